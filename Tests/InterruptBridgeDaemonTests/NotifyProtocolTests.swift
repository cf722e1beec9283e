import Dispatch
import Foundation
import InterruptBridge
import InterruptBridgeDaemon
import InterruptBridgeSystem
import Synchronization
import Testing

/// sd_notify against a local datagram socket standing in for systemd.
@Suite("Daemon notify protocol", .serialized)
struct NotifyProtocolTests {
    /// Collects the datagrams systemd would receive. A thread of its own reads them as they
    /// come, as systemd does: a datagram socket queues only net.unix.max_dgram_qlen (10 by
    /// default) messages, so a reader that waited while this test's task was starved let the
    /// daemon's watchdog pings fill the queue, and the READY=1 after a reload was dropped.
    final class StandInManager: Sendable {
        let path: String
        let socket: OwnedDescriptor
        let messages = LockedValue<[String]>([])
        private let reading = LockedValue<Bool>(true)
        private let reader: PThread.Handle
        init(directory: String) throws {
            path = directory + "/notify.sock"
            let socket = try UnixDatagram.bind(path)
            self.socket = socket
            let (messages, reading) = (messages, reading)
            reader = try PThread.spawn(name: "notify-stand-in") {
                while reading.withLock({ $0 }) {
                    while let bytes = try? UnixDatagram.receive(socket.rawValue) {
                        messages.withLock { $0.append(String(decoding: bytes, as: UTF8.self)) }
                    }
                    usleep(2_000)
                }
            }
        }

        /// Stops the reader; the socket closes with the manager.
        func stop() {
            reading.withLock { $0 = false }
            try? PThread.join(reader)
        }

        /// What arrived so far.
        func received() -> [String] { messages.withLock { $0 } }

        func waitFor(_ predicate: ([String]) -> Bool, seconds: Double = 10) async throws -> [String] {
            let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            while ContinuousClock.now < deadline {
                let all = received()
                if predicate(all) { return all }
                try await Task.sleep(for: .milliseconds(10))
            }
            return received()
        }
    }

    @Test func readyAfterDevicesWatchdogWhileHealthyReloadingAroundAReload() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-notify-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let manager = try StandInManager(directory: directory)
        defer { manager.stop() }
        let daemon = try await DaemonHarness("simulated:\n  a: {interrupts: msix, vectors: 2}\n  b: {interrupts: intx}\n",
                                             environment: ["NOTIFY_SOCKET": manager.path, "WATCHDOG_USEC": "200000"])
        // READY=1 once every configured device is connected: the devices are connected when it arrives.
        let ready = try await manager.waitFor { $0.contains { $0.contains("READY=1") } }
        #expect(ready.first { $0.contains("READY=1") }?.contains("STATUS=2 device(s) connected") == true)

        // WATCHDOG=1 keeps coming while the loop answers heartbeats (every 50 ms here; up to
        // 10 s for three: on two cores, the suites' other daemons raising simulated interrupts
        // beside this one starved it to two pings in 3 s in one fresh-clone run).
        let pingsBefore = manager.received().filter { $0 == "WATCHDOG=1" }.count
        var healthy = 0
        let deadline = ContinuousClock.now + .seconds(10)
        while healthy < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            healthy = manager.received().filter { $0 == "WATCHDOG=1" }.count - pingsBefore
        }
        #expect(healthy >= 3, "WATCHDOG=1 while healthy: \(healthy) in 10 s at WATCHDOG_USEC=200000")

        // Wedge the dispatch loop: an ISR that does not return for 1.2 s. No WATCHDOG=1 meanwhile.
        let release = DispatchSemaphore(value: 0)
        let entered = Atomic<Bool>(false)
        let backend = SimulatedBackend(msixVectors: 1)
        let device = InterruptDevice(backend: backend)
        // Connect and disconnect wait for the loop thread: off the cooperative pool (two threads here).
        let dispatcher = daemon.services.dispatcher
        let connection = try await offTheCooperativePool {
            try dispatcher.connectMessageBased(device: device, messageRoutine: { _, _ in
                entered.store(true, ordering: .releasing)
                _ = release.wait(timeout: .now() + 5)
                return true
            }, fallbackRoutine: { _ in true })
        }
        backend.raise(message: 0)
        for _ in 0..<500 where !entered.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(2)) }
        let didEnter = entered.load(ordering: .acquiring)
        #expect(didEnter)
        try await Task.sleep(for: .milliseconds(150))  // a heartbeat answered just before the wedge may still be reported
        let wedgedStart = manager.received().filter { $0 == "WATCHDOG=1" }.count
        try await Task.sleep(for: .milliseconds(1_000))
        let wedged = manager.received().filter { $0 == "WATCHDOG=1" }.count - wedgedStart
        #expect(wedged == 0, "WATCHDOG=1 while the loop was wedged: \(wedged)")
        release.signal()
        let recovered = try await manager.waitFor { $0.filter { $0 == "WATCHDOG=1" }.count > wedgedStart + wedged }
        #expect(recovered.filter { $0 == "WATCHDOG=1" }.count > wedgedStart)
        if case .messages(let table) = connection { try await offTheCooperativePool { dispatcher.disconnect(table) } }

        // RELOADING=1 with MONOTONIC_USEC, then READY=1, around a reload.
        let mark = manager.received().count
        #expect(try await daemon.call("POST", "/v1/reload").status == 200)
        let reload = try await manager.waitFor { Array($0.dropFirst(mark)).contains { $0.contains("READY=1") } }
        let after = Array(reload.dropFirst(mark)).filter { $0 != "WATCHDOG=1" }
        #expect(after.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(after)")
        #expect(after.dropFirst().first == "READY=1\nSTATUS=reloaded", "\(after)")

        // A rejected reload ends with READY=1 too, its STATUS saying the configuration was kept.
        try "settings: {milestone: -1}\n".write(toFile: daemon.configurationPath, atomically: true, encoding: .utf8)
        let rejectedMark = manager.received().count
        #expect(try await daemon.call("POST", "/v1/reload").status == 422)
        let rejected = try await manager.waitFor { Array($0.dropFirst(rejectedMark)).contains { $0.contains("READY=1") } }
        let ending = Array(rejected.dropFirst(rejectedMark)).filter { $0 != "WATCHDOG=1" }
        #expect(ending.dropFirst().first == "READY=1\nSTATUS=reload rejected, the running configuration is kept", "\(ending)")

        try await daemon.stop()
        #expect(manager.received().contains { $0.hasPrefix("STOPPING=1") })
    }
}
