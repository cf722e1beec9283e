// Hot-plug from inside a rig test: the test asks the host to remove or add a device behind a
// PCIe root port (`--devices ...,edu@port`, `--qemu-hotplug SPEC`) at the moment it chooses. The guest side of
// scripts/rig/hotplug-agent.py, as `rig-hotplug` speaks it: one request line ("remove edu0",
// "add edu0") on the guest's fourth serial port, one answer line back ("ok remove edu0 61"
// or "error ...").
#if canImport(Glibc)
import Glibc
#endif
import InterruptBridgeSystem

extension Rig {
    /// A hot-plug request to the rig's host agent.
    public enum HotplugRequest: String, Sendable {
        /// QMP device_del; answered once QEMU reports DEVICE_DELETED (the guest let the device go).
        case remove
        /// QMP device_add; the guest finds the device shortly after (see ``Rig/waitUntil(_:present:timeoutMilliseconds:)``).
        case add
    }

    /// The serial port the requests go out on (present only in runs with `edu@port` or `--qemu-hotplug`).
    public static let hotplugRequestPort = "/dev/ttyS3"

    /// Sends the request and waits for the host's answer; returns the host's time for it in ms.
    /// Blocks the calling thread: a removal of a device someone holds open waits for the holder.
    /// Throws ``RigError`` with the host's answer when it refused (`error no hot-pluggable device 'edu9'`).
    @discardableResult
    public static func hotplug(_ request: HotplugRequest, _ name: String, timeoutSeconds: Int = 60) throws -> Int {
        // O_NOCTTY: the test process must not make the request port its controlling terminal.
        let raw = open(hotplugRequestPort, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard raw >= 0 else { throw RigError("open \(hotplugRequestPort): errno \(errno) (does the run have a hot-pluggable device: edu@port or --qemu-hotplug?)") }
        let port = OwnedDescriptor(adopting: raw, name: hotplugRequestPort)
        let line = Array("\(request.rawValue) \(name)\n".utf8)
        guard line.withUnsafeBytes({ write(port.rawValue, $0.baseAddress, $0.count) }) == line.count else {
            throw RigError("write \(hotplugRequestPort): errno \(errno)")
        }
        var answer: [UInt8] = []
        let end = MonotonicClock.nanoseconds() + UInt64(timeoutSeconds) * 1_000_000_000
        while answer.last != UInt8(ascii: "\n") {
            guard MonotonicClock.nanoseconds() < end else {
                throw RigError("no answer to '\(request.rawValue) \(name)' within \(timeoutSeconds) s")
            }
            guard try FileIO.waitReadable(port.rawValue, timeoutMilliseconds: 1000) else { continue }
            var byte: UInt8 = 0
            if read(port.rawValue, &byte, 1) == 1 { answer.append(byte) }
        }
        while let last = answer.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: "\r") { answer.removeLast() }
        let text = String(decoding: answer, as: UTF8.self)
        let words = text.split(separator: " ")
        guard words.first == "ok", let milliseconds = words.last.flatMap({ Int($0) }) else { throw RigError(text) }
        return milliseconds
    }
}
