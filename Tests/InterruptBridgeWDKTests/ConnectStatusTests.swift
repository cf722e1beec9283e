import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// Every documented status of IoConnectInterruptEx / IoConnectInterrupt through the
/// facade; each failing case also checks that the out-parameters are untouched and
/// that nothing was left connected or enabled.
@Suite("IoConnectInterruptEx statuses")
struct ConnectStatusTests {
    static let isr: KSERVICE_ROUTINE = { _, ServiceContext in
        (ServiceContext as! DEVICE_EXTENSION).isrCalls.add(1, ordering: .releasing)
        return TRUE
    }
    static let messageISR: KMESSAGE_SERVICE_ROUTINE = { _, ServiceContext, MessageID in
        let deviceExtension = ServiceContext as! DEVICE_EXTENSION
        deviceExtension.lastMessageID.store(Int(MessageID), ordering: .relaxed)
        deviceExtension.messagesSeen.bitwiseOr(1 << UInt64(MessageID), ordering: .relaxed)
        deviceExtension.isrCalls.add(1, ordering: .releasing)
        return TRUE
    }

    /// Line-based parameters for `pdo`, writing into `devExt.IntObj`.
    static func lineBased(_ pdo: PDEVICE_OBJECT, _ devExt: DEVICE_EXTENSION) -> IO_CONNECT_INTERRUPT_PARAMETERS {
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_LINE_BASED
        params.LineBased.PhysicalDeviceObject = pdo
        params.LineBased.InterruptObject = devExt.pointer(to: \.IntObj)
        params.LineBased.ServiceRoutine = isr
        params.LineBased.ServiceContext = devExt
        return params
    }

    /// Fully specified parameters for the first translated interrupt of `pdo` (or `vector`).
    static func fullySpecified(_ pdo: DEVICE_OBJECT?, _ devExt: DEVICE_EXTENSION, vector: ULONG? = nil) -> IO_CONNECT_INTERRUPT_PARAMETERS {
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_FULLY_SPECIFIED
        params.FullySpecified.PhysicalDeviceObject = pdo
        params.FullySpecified.InterruptObject = devExt.pointer(to: \.IntObj)
        params.FullySpecified.ServiceRoutine = isr
        params.FullySpecified.ServiceContext = devExt
        let first = pdo?.device.vectors.first
        params.FullySpecified.Vector = vector ?? first?.vector ?? 0
        params.FullySpecified.Irql = first?.irql.rawValue ?? 5
        params.FullySpecified.SynchronizeIrql = first?.irql.rawValue ?? 5
        params.FullySpecified.InterruptMode = first?.mode == .latched ? Latched : LevelSensitive
        params.FullySpecified.ShareVector = first?.shareDisposition == .shared
        params.FullySpecified.ProcessorEnableMask = 0x3
        return params
    }

    /// Message-based parameters for `pdo`, the result going to `devExt.ConnectionContext`.
    static func messageBased(_ pdo: PDEVICE_OBJECT, _ devExt: DEVICE_EXTENSION, fallBack: Bool) -> IO_CONNECT_INTERRUPT_PARAMETERS {
        var params = IO_CONNECT_INTERRUPT_PARAMETERS()
        params.Version = CONNECT_MESSAGE_BASED
        params.MessageBased.PhysicalDeviceObject = pdo
        params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
        params.MessageBased.MessageServiceRoutine = messageISR
        params.MessageBased.ServiceContext = devExt
        params.MessageBased.FallBackServiceRoutine = fallBack ? isr : nil
        return params
    }

    /// Asserts a failed connect left everything as it was.
    static func expectNothingConnected(_ dispatcher: InterruptDispatcher, _ backend: SimulatedBackend?, _ devExt: DEVICE_EXTENSION,
                                       sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(devExt.IntObj == nil, "the out-parameter is untouched", sourceLocation: sourceLocation)
        #expect(devExt.ConnectionContext == nil, "the connection context is untouched", sourceLocation: sourceLocation)
        #expect(dispatcher.connectedInterrupts.isEmpty, "nothing is left connected", sourceLocation: sourceLocation)
        #expect(backend?.enabledKind == nil, "the device's interrupts stay disabled", sourceLocation: sourceLocation)
    }

    @Test(arguments: [ULONG(0), 6, 7, 0xffff_ffff])
    func aBadVersionIsInvalidParameter1(version: ULONG) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.lineBased(pdo, devExt)
        params.Version = version
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER_1)
        #expect(WdmlibIoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER_1)
        #expect(params.Version == version, "Version is not rewritten on failure")
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    /// Seed 004: WdmlibIoConnectInterruptEx's "Parameters->Version must be one of
    /// CONNECT_LINE_BASED, CONNECT_MESSAGE_BASED, or CONNECT_FULLY_SPECIFIED"; the later
    /// versions are IoConnectInterruptEx's only, and the same parameters connect there.
    @Test(arguments: [CONNECT_FULLY_SPECIFIED_GROUP, CONNECT_MESSAGE_BASED_PASSIVE])
    func theCompatibilityLibraryTakesOnlyItsThreeVersions(version: ULONG) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = version == CONNECT_FULLY_SPECIFIED_GROUP ? Self.fullySpecified(pdo, devExt) : Self.messageBased(pdo, devExt, fallBack: false)
        params.Version = version
        if version == CONNECT_MESSAGE_BASED_PASSIVE { params.MessageBased.SynchronizeIrql = PASSIVE_LEVEL }
        #expect(WdmlibIoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER_1)
        #expect(params.Version == version)
        Self.expectNothingConnected(dispatcher, backend, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        if version == CONNECT_FULLY_SPECIFIED_GROUP {
            disconnect.ConnectionContext.InterruptObject = devExt.IntObj
        } else {
            disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        }
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func noDeviceObjectIsInvalidParameter() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let devExt = DEVICE_EXTENSION()
        var line = Self.lineBased(nil, devExt)
        var fully = Self.fullySpecified(nil, devExt, vector: 11)
        var message = Self.messageBased(nil, devExt, fallBack: true)
        #expect(IoConnectInterruptEx(&line) == STATUS_INVALID_PARAMETER)
        #expect(IoConnectInterruptEx(&fully) == STATUS_INVALID_PARAMETER)
        #expect(IoConnectInterruptEx(&message) == STATUS_INVALID_PARAMETER)
        #expect(message.Version == CONNECT_MESSAGE_BASED)
        Self.expectNothingConnected(dispatcher, nil, devExt)
    }

    @Test func missingRoutineOrResultLocationIsInvalidParameter() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var noRoutine = Self.fullySpecified(pdo, devExt)
        noRoutine.FullySpecified.ServiceRoutine = nil
        var noLocation = Self.fullySpecified(pdo, devExt)
        noLocation.FullySpecified.InterruptObject = nil
        var noContext = Self.messageBased(pdo, devExt, fallBack: false)
        noContext.MessageBased.ConnectionContext = IO_CONNECT_INTERRUPT_CONNECTION_CONTEXT()
        #expect(IoConnectInterruptEx(&noRoutine) == STATUS_INVALID_PARAMETER)
        #expect(IoConnectInterruptEx(&noLocation) == STATUS_INVALID_PARAMETER)
        #expect(IoConnectInterruptEx(&noContext) == STATUS_INVALID_PARAMETER)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    @Test func anEmptyProcessorEnableMaskIsInvalidParameter10ButInvalidParameterForTheLegacyCall() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.fullySpecified(pdo, devExt)
        params.FullySpecified.ProcessorEnableMask = 0
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER_10)
        params.Version = CONNECT_FULLY_SPECIFIED_GROUP
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER_10)

        let status = IoConnectInterrupt(&devExt.IntObj, Self.isr, devExt, nil, 11, 5, 5, LevelSensitive, TRUE, 0, FALSE,
                                        dispatcher: dispatcher)
        #expect(status == STATUS_INVALID_PARAMETER)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    /// Windows intersects ProcessorEnableMask with its active processors: a mask naming
    /// only processors that are not online specifies no processor (seed 002: "No
    /// processors were specified"), reported as the empty mask is. A mask naming one
    /// online processor among absent ones connects.
    @Test func aMaskOfOnlyOfflineProcessorsIsAnEmptyMask() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let active = dispatcher.onlineProcessors.rawValue
        try #require(active != .max && active & (1 << 63) == 0, "needs fewer than 64 online processors")
        let offline = KAFFINITY(1) << 63
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.fullySpecified(pdo, devExt)
        params.FullySpecified.ProcessorEnableMask = offline
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER_10)
        #expect(IoConnectInterrupt(&devExt.IntObj, Self.isr, devExt, nil, 11, 5, 5, LevelSensitive, TRUE, offline, FALSE,
                                   dispatcher: dispatcher) == STATUS_INVALID_PARAMETER)
        Self.expectNothingConnected(dispatcher, backend, devExt)

        params.FullySpecified.ProcessorEnableMask = offline | 1
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_FULLY_SPECIFIED
        disconnect.ConnectionContext.InterruptObject = devExt.IntObj
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func lineBasedOnADeviceAssignedMessagesIsInvalidDeviceRequest() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.edu, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_DEVICE_REQUEST)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    @Test func aDeviceWithoutInterruptsIsNotFound() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.silent, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var line = Self.lineBased(pdo, devExt)
        var message = Self.messageBased(pdo, devExt, fallBack: true)
        var fully = Self.fullySpecified(pdo, devExt, vector: 11)
        #expect(IoConnectInterruptEx(&line) == STATUS_NOT_FOUND)
        #expect(IoConnectInterruptEx(&message) == STATUS_NOT_FOUND)
        #expect(IoConnectInterruptEx(&fully) == STATUS_NOT_FOUND)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    /// Seed 004: "STATUS_NOT_FOUND: One of the arguments was not found. For example, ...
    /// the specified interrupt vector is not assigned to any device." Seed 002 lists only
    /// STATUS_SUCCESS, STATUS_INVALID_PARAMETER and STATUS_INSUFFICIENT_RESOURCES for the
    /// legacy call, whose Vector names no device: an unknown vector is an invalid parameter.
    @Test func aVectorNotAssignedToTheDeviceIsNotFoundButInvalidParameterForTheLegacyCall() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.fullySpecified(pdo, devExt, vector: 12)
        #expect(IoConnectInterruptEx(&params) == STATUS_NOT_FOUND)
        let legacy = IoConnectInterrupt(&devExt.IntObj, Self.isr, devExt, nil, 12, 5, 5, LevelSensitive, TRUE, 0x1, FALSE,
                                        dispatcher: dispatcher)
        #expect(legacy == STATUS_INVALID_PARAMETER)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    @Test func messageBasedOnALineOnlyDeviceRegistersTheFallBackRoutine() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.messageBased(pdo, devExt, fallBack: true)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_LINE_BASED, "Version tells the driver its fall-back routine was registered")
        let interrupt = try #require(devExt.ConnectionContext as? KINTERRUPT, "ConnectionContext holds a KINTERRUPT")
        #expect(interrupt.kind == .intx)

        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.lastMessage == -1, "the line calls the fall-back, not the message routine")

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func messageBasedOnALineOnlyDeviceWithoutFallBackConnectsNothing() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.messageBased(pdo, devExt, fallBack: false)
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER)
        #expect(params.Version == CONNECT_MESSAGE_BASED)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }

    /// MSI-X's largest table (2048 messages) connects on a dispatcher made with the default
    /// options: it once held 1024 descriptors, and a full table was STATUS_INSUFFICIENT_RESOURCES.
    @Test func aFullMSIXTableConnectsOnADefaultDispatcher() throws {
        // An eventfd per message: over a default soft limit of 1024 descriptors.
        let limit = try FileIO.raiseDescriptorLimitToHardLimit()
        try #require(limit >= 2048 + 256, "RLIMIT_NOFILE's hard limit \(limit) is too low for 2048 messages")
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(SimulatedDevice(interruptPin: nil, irqLine: nil, msixCount: 2048), on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.messageBased(pdo, devExt, fallBack: false)
        params.MessageBased.ConnectionContext.InterruptMessageTable = devExt.pointer(to: \.ConnectionContext)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
        #expect(table.MessageCount == 2048)
        #expect(backend.raise(message: 2047))
        let last = table.MessageInfo[2047].InterruptObject
        #expect(last.messageID == 2047)
        #expect(eventually { last.serviceCallCount == 1 }, "the last message reached the ISR")
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func messageBasedOnAnMSIXDeviceReturnsTheMessageTable() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.messageBased(pdo, devExt, fallBack: true)
        params.MessageBased.ConnectionContext.InterruptMessageTable = devExt.pointer(to: \.ConnectionContext)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_MESSAGE_BASED)
        let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
        #expect(table.MessageCount == 4)
        let programmed = try #require(backend.programmedMessages(.msix), "the device's MSI-X table as programmed")
        #expect(table.UnifiedIrql == 8)
        for (index, entry) in table.MessageInfo.enumerated() {
            #expect(entry.InterruptObject.messageID == UInt32(index))
            #expect(entry.Vector == ResourceTranslator.messageVector(Devices.msix4.address, message: index))
            #expect(entry.Irql == 8)
            #expect(entry.Mode == Latched)
            #expect(entry.TargetProcessorSet == 0x3)
            #expect(UInt64(bitPattern: entry.MessageAddress.QuadPart) == programmed[index].address)
            #expect(entry.MessageData == programmed[index].data)
        }
        for message in 0..<4 { #expect(backend.raise(message: message)) }
        #expect(eventually { devExt.seenMessages == 0b1111 }, "every MessageID reached the ISR")

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED
        disconnect.ConnectionContext.InterruptMessageTable = table
        // iointex.h: NTSTATUS WdmlibIoDisconnectInterruptEx(IN OUT PIO_DISCONNECT_INTERRUPT_PARAMETERS),
        // so `status = WdmlibIoDisconnectInterruptEx(&p)` ports as written.
        let status: NTSTATUS = WdmlibIoDisconnectInterruptEx(&disconnect)
        #expect(status == STATUS_SUCCESS)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }

    @Test func disconnectGoesByWhatTheContextHolds() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.messageBased(pdo, devExt, fallBack: false)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        disconnect.Version = CONNECT_LINE_BASED
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty, "the table was disconnected although Version named a line")
        #expect(backend.enabledKind == nil)
    }

    /// A disconnect structure zeroed and never given its Version (or any Version no connect
    /// returns) still disconnects what its context holds: nothing stays connected.
    @Test(arguments: [ULONG(0), 0x77])
    func aDisconnectWithAVersionNoConnectReturnsStillDisconnects(version: ULONG) throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        RtlZeroMemory(&disconnect, MemoryLayout<IO_DISCONNECT_INTERRUPT_PARAMETERS>.size)
        disconnect.Version = version
        disconnect.ConnectionContext.InterruptObject = devExt.IntObj
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
        var empty = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        IoDisconnectInterruptEx(&empty)  // an empty context: nothing to do
    }

    @Test func aDispatcherThatWasShutDownIsInsufficientResources() throws {
        let dispatcher = try makeDispatcher()
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        dispatcher.shutdown()
        let devExt = DEVICE_EXTENSION()
        var params = Self.lineBased(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_INSUFFICIENT_RESOURCES)
        let legacy = IoConnectInterrupt(&devExt.IntObj, Self.isr, devExt, nil, 11, 5, 5, LevelSensitive, TRUE, 0x1, FALSE,
                                        dispatcher: dispatcher)
        #expect(legacy == STATUS_INSUFFICIENT_RESOURCES)
        Self.expectNothingConnected(dispatcher, backend, devExt)
    }
}
