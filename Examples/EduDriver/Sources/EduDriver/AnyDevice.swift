// The same connect for a device this example knows nothing of (an unnamed QEMU model such as
// rtl8139, added with the rig's --qemu-device): its interrupts are raised through VFIO's
// loopback trigger (VFIO_IRQ_SET_ACTION_TRIGGER with no data), which makes the kernel signal
// the interrupt's eventfd as the device would. Works for INTx and MSI on any vfio-pci device.
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeDiscovery
public import InterruptBridgeWDK
import Logging
import Synchronization

/// A started device whose ISR claims and counts every interrupt.
public final class CountingDevice: Addressable, @unchecked Sendable {
    // @unchecked: ConnectionContext and Version are written by IoConnectInterruptEx on the
    // starting thread and read by it at stop; the ISR touches only `interrupts` (atomic).
    public var ConnectionContext: PVOID = nil
    public private(set) var Version: ULONG = 0
    let interrupts = Atomic<Int>(0)
    let backend: VFIOBackend
    let dispatcher: InterruptDispatcher

    /// Interrupts the ISR claimed so far.
    public var InterruptCount: Int { interrupts.load(ordering: .acquiring) }

    public init(address: PCIAddress, logger: Logger = Logger(label: "counting")) throws {
        guard let info = try PCIDiscovery(logger: logger).device(at: address) else { throw EduDriverError("no PCI device at \(address)") }
        backend = try VFIOBackend(device: info, logger: logger)
        do {
            dispatcher = try InterruptDispatcher(logger: logger)
        } catch {
            backend.close()
            throw error
        }
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_MESSAGE_BASED
        params.MessageBased.PhysicalDeviceObject = DEVICE_OBJECT(InterruptDevice(backend: backend), dispatcher: dispatcher)
        params.MessageBased.ConnectionContext.Generic = pointer(to: \.ConnectionContext)
        params.MessageBased.MessageServiceRoutine = { _, ServiceContext, _ in
            (ServiceContext as! CountingDevice).interrupts.add(1, ordering: .releasing)
            return TRUE
        }
        params.MessageBased.ServiceContext = self
        params.MessageBased.FallBackServiceRoutine = { _, ServiceContext in
            (ServiceContext as! CountingDevice).interrupts.add(1, ordering: .releasing)
            return TRUE
        }
        let status = IoConnectInterruptEx(&params)
        guard NT_SUCCESS(status) else {
            dispatcher.shutdown()
            backend.close()
            throw EduDriverError("IoConnectInterruptEx: \(status)")
        }
        Version = params.Version
    }

    /// Raises the device's first interrupt (INTx, or MSI message 0) through VFIO's loopback trigger.
    public func trigger() throws { try backend.triggerLoopback(message: 0) }

    /// Disconnects and releases the device; the ISR's context (self) is let go.
    public func stop() {
        var params = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        params.Version = Version
        if Version == CONNECT_MESSAGE_BASED {
            params.ConnectionContext.InterruptMessageTable = ConnectionContext as? IO_INTERRUPT_MESSAGE_INFO
        } else {
            params.ConnectionContext.InterruptObject = ConnectionContext as? KINTERRUPT
        }
        IoDisconnectInterruptEx(&params)
        ConnectionContext = nil
        dispatcher.shutdown()
        backend.close()
    }
}
