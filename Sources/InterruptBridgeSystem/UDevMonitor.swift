import CInterruptBridge
import CLibUDev
#if canImport(Glibc)
import Glibc
#endif
public import InterruptBridgeCore
import Synchronization

/// PCI hot-plug events from the kernel's uevent netlink socket (libudev's
/// `udev_monitor`, source "kernel", so no udev daemon is needed).
///
/// Owned by one thread at a time: `receive()` is not thread-safe.
public final class UDevMonitor {
    private let context: UDev.Context
    private let monitor: OpaquePointer

    /// Opens the monitor, filtered to the `pci` subsystem, and starts receiving.
    public init() throws(SystemError) {
        context = try UDev.Context()
        guard let monitor = udev_monitor_new_from_netlink(context.udev, "kernel") else {
            throw SystemError.errno("udev_monitor_new_from_netlink(kernel)")
        }
        self.monitor = monitor
        var result = udev_monitor_filter_add_match_subsystem_devtype(monitor, "pci", nil)
        if result >= 0 { result = udev_monitor_enable_receiving(monitor) }
        guard result >= 0 else {
            udev_monitor_unref(monitor)
            throw SystemError("udev_monitor_enable_receiving", code: -result)
        }
    }

    deinit { udev_monitor_unref(monitor) }

    /// The netlink socket (non-blocking); readable when an event is waiting.
    public var fileDescriptor: Int32 { udev_monitor_get_fd(monitor) }

    /// The next waiting PCI event, or nil when none is waiting. Events for
    /// devices whose name is not a PCI address are skipped.
    public func receive() -> PCIHotplugEvent? {
        while let device = udev_monitor_receive_device(monitor) {
            defer { udev_device_unref(device) }
            if let event = Self.event(from: device) { return event }
        }
        return nil
    }

    /// The event a received uevent describes (nil: no action, or not a PCI function's).
    /// Its driver is the uevent's own DRIVER property: `udev_device_get_driver` falls back to
    /// the device's sysfs `driver` link when the event names none (an unbind never does), and
    /// read after the fact that link names the driver that took the device next (seen in
    /// the rig: `irqbridge bind --from 'i6300ESB timer'` showed as "unbind ... (vfio-pci)").
    package static func event(from device: OpaquePointer) -> PCIHotplugEvent? {
        guard let action = UDev.string(udev_device_get_action(device)),
              let name = UDev.string(udev_device_get_sysname(device)),
              let address = PCIAddress(name)
        else { return nil }
        return PCIHotplugEvent(action: .init(action), address: address, driver: UDev.string(udev_device_get_property_value(device, "DRIVER")))
    }

    /// Waits up to `milliseconds` (-1: forever) for the socket or `wakeDescriptor`
    /// to become readable. Returns true when the monitor has an event; throws
    /// when the socket reports an error or hang-up (so a caller never spins on it).
    public func wait(milliseconds: Int32, wakeDescriptor: Int32 = -1) throws(SystemError) -> Bool {
        var descriptors = [pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)]
        let count = nfds_t(wakeDescriptor >= 0 ? 2 : 1)
        _ = try syscall("poll udev monitor") { poll(&descriptors, count, milliseconds) }
        let revents = descriptors[0].revents
        if revents & Int16(POLLIN) != 0 { return true }
        if revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
            throw SystemError("poll udev monitor socket (revents 0x\(String(revents, radix: 16)))", code: EIO)
        }
        return false
    }

    /// Monitor threads still running (each ends, releasing its socket and
    /// eventfd, once its stream has ended). For tests and diagnostics.
    public static var runningThreads: Int { runningThreadCount.load(ordering: .acquiring) }

    /// The events as an AsyncStream, read on a dedicated thread (never the
    /// cooperative pool). Cancelling the consuming task, or dropping the stream,
    /// stops the thread and closes the socket. The stream finishes if the socket fails.
    public static func events(bufferingNewest limit: Int = 256) throws(SystemError) -> AsyncStream<PCIHotplugEvent> {
        let monitor = try UDevMonitor()
        // Tells the monitor thread its stream ended. Shared by the stream's termination
        // handler and the thread, and closed only when both have let go, so a late
        // signal never writes to a closed (or reused) descriptor.
        let wake = try EventFD.open(name: "udev monitor wake-up")
        let (stream, continuation) = AsyncStream.makeStream(of: PCIHotplugEvent.self, bufferingPolicy: .bufferingNewest(limit))
        continuation.onTermination = { _ in _ = try? EventFD.write(wake.rawValue) }
        let job = MonitorThreadJob(monitor: monitor, wake: wake, continuation: continuation)
        runningThreadCount.add(1, ordering: .relaxed)
        do {
            let thread = try PThread.spawn(name: "irqbridge-udev") {
                job.run()
                runningThreadCount.subtract(1, ordering: .releasing)
            }
            PThread.detach(thread)
        } catch {
            runningThreadCount.subtract(1, ordering: .relaxed)
            continuation.finish()
            throw error
        }
        return stream
    }
}

/// What the monitor thread owns. `@unchecked Sendable`: the monitor is handed to
/// the new thread and never touched by the creator again; the wake-up descriptor
/// and the continuation are themselves Sendable.
private final class MonitorThreadJob: @unchecked Sendable {
    let monitor: UDevMonitor
    let wake: OwnedDescriptor
    let continuation: AsyncStream<PCIHotplugEvent>.Continuation

    init(monitor: UDevMonitor, wake: OwnedDescriptor, continuation: AsyncStream<PCIHotplugEvent>.Continuation) {
        self.monitor = monitor
        self.wake = wake
        self.continuation = continuation
    }

    func run() {
        while true {
            let ready: Bool
            do { ready = try monitor.wait(milliseconds: -1, wakeDescriptor: wake.rawValue) } catch {
                continuation.finish()
                return
            }
            if (try? EventFD.read(wake.rawValue)) != nil { return }  // the stream ended
            guard ready else { continue }
            while let event = monitor.receive() {
                if case .terminated = continuation.yield(event) { return }
            }
        }
    }
}

private let runningThreadCount = Atomic<Int>(0)
