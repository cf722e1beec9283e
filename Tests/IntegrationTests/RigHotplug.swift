// Hot-plug in the rig: a test asks the host to remove or add a device behind a PCIe root
// port (`scripts/rig/run.sh --devices ...,edu@port`) at the moment it chooses.
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import InterruptBridgeDiscovery
import InterruptBridgeCore
import Testing

/// The guest side of scripts/rig/hotplug-agent.py, as `rig-hotplug` speaks it: one request
/// line ("remove edu0", "add edu0") on the request port, one answer line back
/// ("ok remove edu0 61" or "error ...").
enum RigHotplug {
    /// The hot-pluggable devices of this run by QMP id ("edu0" -> 0000:01:00.0), from
    /// IRQBRIDGE_RIG_HOTPLUG; empty when the run has none.
    static let devices: [String: PCIAddress] = {
        var devices: [String: PCIAddress] = [:]
        for entry in (Rig.environment("IRQBRIDGE_RIG_HOTPLUG") ?? "").split(separator: " ") {
            let parts = entry.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let address = PCIAddress(parts[1]) { devices[String(parts[0])] = address }
        }
        return devices
    }()

    static let requestPort = "/dev/ttyS3"

    enum Request: String {
        /// QMP device_del; answered once QEMU reports DEVICE_DELETED (the guest let the device go).
        case remove
        /// QMP device_add; the guest finds the device shortly after (see `waitUntil`).
        case add
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Sends the request and waits for the host's answer; returns the host's time for it in ms.
    /// Blocks the calling thread: a removal of a device someone holds open waits for the holder.
    @discardableResult
    static func request(_ request: Request, _ name: String, timeoutSeconds: Int32 = 60) throws -> Int {
        let fd = open(requestPort, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "open \(requestPort): errno \(errno)") }
        defer { close(fd) }
        let line = Array("\(request.rawValue) \(name)\n".utf8)
        guard line.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == line.count else {
            throw Failure(description: "write \(requestPort): errno \(errno)")
        }
        var answer: [UInt8] = []
        var deadline = timespec()
        clock_gettime(CLOCK_MONOTONIC, &deadline)
        let end = deadline.tv_sec + Int(timeoutSeconds)
        while answer.last != UInt8(ascii: "\n") {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            guard now.tv_sec < end else { throw Failure(description: "no answer to '\(request.rawValue) \(name)' within \(timeoutSeconds) s") }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 1000) >= 0 || errno == EINTR else { throw Failure(description: "poll \(requestPort): errno \(errno)") }
            guard poller.revents & Int16(POLLIN) != 0 else { continue }
            var byte: UInt8 = 0
            if read(fd, &byte, 1) == 1 { answer.append(byte) }
        }
        let text = String(decoding: answer, as: UTF8.self).trimmingCharacters(in: .newlines)
        let words = text.split(separator: " ")
        guard words.first == "ok", let milliseconds = words.last.flatMap({ Int($0) }) else { throw Failure(description: text) }
        return milliseconds
    }

    /// Whether the device's sysfs directory exists.
    static func present(_ address: PCIAddress) -> Bool {
        access("/sys/bus/pci/devices/\(address)", F_OK) == 0
    }

    /// Polls every 10 ms until the device is present (or absent); returns how long it took
    /// in ms, or nil after `timeoutMilliseconds`.
    static func waitUntil(_ address: PCIAddress, present wanted: Bool, timeoutMilliseconds: Int = 10_000) -> Int? {
        var waited = 0
        while present(address) != wanted {
            guard waited < timeoutMilliseconds else { return nil }
            usleep(10_000)
            waited += 10
        }
        return waited
    }
}

extension RigIntegrationTests {
    /// The rig's hot-plug from inside a test (needs `--devices ...,edu@port`; skipped without).
    @Suite("Hot-plug requests from a test", .enabled(if: RigHotplug.devices["edu0"] != nil, "the run has no edu@port (run.sh --devices ...,edu@port)"))
    struct RigHotplugTests {
        @Test func aDeviceIsRemovedAndAddedBackWhenTheTestAsks() throws {
            let edu = try #require(RigHotplug.devices["edu0"])
            #expect(RigHotplug.present(edu))
            let removal = try RigHotplug.request(.remove, "edu0")
            // Answered after DEVICE_DELETED: the guest has already dropped it.
            #expect(!RigHotplug.present(edu))
            let addition = try RigHotplug.request(.add, "edu0")
            let appeared = RigHotplug.waitUntil(edu, present: true)
            #expect(appeared != nil)
            let vendor = try String(contentsOfFile: "/sys/bus/pci/devices/\(edu)/vendor", encoding: .utf8)
            #expect(vendor == "0x1234\n")
            print("hot-plug: device_del answered in \(removal) ms, device_add in \(addition) ms, in sysfs after \(appeared ?? -1) ms more")
        }

        /// With MSI disallowed, what the resource lists offer the device: INTx while its line is routed.
        static func lineBasedKind(_ address: PCIAddress) throws -> InterruptKind? {
            let policies = InterruptPolicyTable(fallback: InterruptPolicy(msiSupported: false))
            return try PCIDiscovery(policies: policies, logger: Rig.logger).catalog().device(at: address)?.resources.interruptKind
        }

        /// Found with this rig: a device added while the system runs has sysfs `irq` 0 (and
        /// Interrupt Line 0) until a driver first enables it (vfio-pci does on open; then it reads
        /// 20), so discovery sees no routed line, offers no INTx, and a line-based connect fails
        /// with STATUS_NOT_FOUND; a second process, after that first open, connects INTx fine.
        /// The device present at boot got its line from the firmware. Known issue until discovery
        /// stops depending on the line for a device that has a pin (issue 10: a device that comes
        /// back can be opened and connected again); this test then fails to say it is fixed.
        @Test func aReAddedDeviceOffersINTxBeforeItsFirstOpen() throws {
            let edu = try #require(RigHotplug.devices["edu0"])
            // (At boot it is offered INTx: its line came from the firmware. Another test may
            // have re-added it already, so that is not checked here.)
            try RigHotplug.request(.remove, "edu0")
            try RigHotplug.request(.add, "edu0")
            #expect(RigHotplug.waitUntil(edu, present: true) != nil)
            let kind = try Self.lineBasedKind(edu)
            withKnownIssue("a hot-added device's line is 0 until first enabled: no INTx offered") {
                #expect(kind == .intx)
            }
        }

        @Test func anUnknownNameIsRefusedWithTheHostsAnswer() {
            #expect {
                try RigHotplug.request(.remove, "edu9")
            } throws: { error in
                "\(error)".hasPrefix("error no hot-pluggable device 'edu9'")
            }
        }
    }
}
