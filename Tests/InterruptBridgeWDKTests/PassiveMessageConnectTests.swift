import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeWDK
import InterruptBridgeTestKit
import Synchronization
import Testing

/// CONNECT_MESSAGE_BASED_PASSIVE: the message-based connect with passive-level routines.
///
/// Seed 001: "Starting with Windows 8, a driver can register an ISR that runs at passive
/// level by setting Irql and SynchronizeIrql to PASSIVE_LEVEL, and setting SpinLock to
/// NULL." CONNECT_MESSAGE_BASED_PASSIVE (wdm.h, Windows 8) asks for that for every
/// message of the device through the MessageBased member.
@Suite("CONNECT_MESSAGE_BASED_PASSIVE")
struct PassiveMessageConnectTests {
    typealias Params = ConnectStatusTests

    static func passive(_ pdo: DEVICE_OBJECT, _ devExt: DEVICE_EXTENSION) -> IO_CONNECT_INTERRUPT_PARAMETERS {
        var params = Params.messageBased(pdo, devExt, fallBack: true)
        params.Version = CONNECT_MESSAGE_BASED_PASSIVE
        params.MessageBased.MessageServiceRoutine = { _, ServiceContext, MessageID in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            devExt.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.messagesSeen.bitwiseOr(1 << UInt64(MessageID), ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        params.MessageBased.FallBackServiceRoutine = { _, ServiceContext in
            let devExt = ServiceContext as! DEVICE_EXTENSION
            devExt.lastIrql.store(KeGetCurrentIrql(), ordering: .relaxed)
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        return params
    }

    /// The messages are one set with one interrupt lock, as a message-based connect's share
    /// one spin lock: KeSynchronizeExecution on message 0's object keeps message 1's ISR
    /// out until the routine returns (KeSynchronizeExecution: "the ISR ... assigned to a set
    /// of one or more interrupt objects").
    @Test func keSynchronizeExecutionOnOneMessageHoldsOffEveryMessagesISR() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        let released = Flag(), ranInside = Flag()
        var params = Self.passive(pdo, devExt)
        params.MessageBased.MessageServiceRoutine = { _, _, _ in
            if !released.isSet { ranInside.set() }
            devExt.isrCalls.add(1, ordering: .releasing)
            return TRUE
        }
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
        _ = KeSynchronizeExecution(table.MessageInfo[0].InterruptObject, { _ in
            _ = backend.raise(message: 1)
            Thread.sleep(forTimeInterval: 0.05)  // long enough for the passive thread to run message 1's ISR, were it let in
            released.set()
            return TRUE
        }, nil)
        #expect(eventually { devExt.calls == 1 })
        #expect(!ranInside.isSet, "message 1's ISR ran while message 0's interrupt lock was held")
        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = CONNECT_MESSAGE_BASED_PASSIVE
        disconnect.ConnectionContext.Generic = devExt.ConnectionContext
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    @Test func everyMessageGetsAPassiveLevelRoutine() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.passive(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_MESSAGE_BASED_PASSIVE)
        let table = try #require(params.MessageBased.ConnectionContext.InterruptMessageTable?.pointee)
        #expect(table.MessageCount == 4)
        #expect(table.UnifiedIrql == PASSIVE_LEVEL)
        for (index, entry) in table.MessageInfo.enumerated() {
            #expect(entry.InterruptObject.messageID == UInt32(index))
            #expect(entry.InterruptObject.isPassiveLevel, "no spin lock: a passive-level object")
            #expect(entry.Irql == PASSIVE_LEVEL && entry.Mode == Latched)
        }
        let programmed = try #require(backend.programmedMessages(.msix))
        #expect(table.MessageInfo.map { UInt64(bitPattern: $0.MessageAddress.QuadPart) } == programmed.map(\.address))

        for message in 0..<4 { #expect(backend.raise(message: message)) }
        #expect(eventually { devExt.seenMessages == 0b1111 }, "every MessageID reached the routine")
        #expect(devExt.irql == PASSIVE_LEVEL, "the routine ran at PASSIVE_LEVEL")

        var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
        disconnect.Version = params.Version
        disconnect.ConnectionContext.InterruptMessageTable = table
        IoDisconnectInterruptEx(&disconnect)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }

    /// The fall-back on a line-only device is passive-level too, and Version says CONNECT_LINE_BASED.
    @Test func theFallBackRoutineIsPassiveLevel() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var params = Self.passive(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_SUCCESS)
        #expect(params.Version == CONNECT_LINE_BASED)
        let interrupt = try #require(params.MessageBased.ConnectionContext.InterruptObject?.pointee)
        #expect(interrupt.isPassiveLevel && interrupt.kind == .intx)
        #expect(backend.raise())
        #expect(eventually { devExt.calls >= 1 })
        #expect(devExt.irql == PASSIVE_LEVEL)
        IoDisconnectInterrupt(interrupt)
        #expect(dispatcher.connectedInterrupts.isEmpty)
    }

    /// "setting SpinLock to NULL": a spin lock, or a SynchronizeIrql above PASSIVE_LEVEL,
    /// is an invalid parameter, and nothing is connected.
    @Test func aSpinLockOrADeviceIrqlIsInvalidParameter() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let devExt = DEVICE_EXTENSION()
        var withLock = Self.passive(pdo, devExt)
        withLock.MessageBased.SpinLock = KSPIN_LOCK()
        #expect(IoConnectInterruptEx(&withLock) == STATUS_INVALID_PARAMETER)
        var raised = Self.passive(pdo, devExt)
        raised.MessageBased.SynchronizeIrql = 5
        #expect(IoConnectInterruptEx(&raised) == STATUS_INVALID_PARAMETER)
        #expect(raised.Version == CONNECT_MESSAGE_BASED_PASSIVE)
        Params.expectNothingConnected(dispatcher, backend, devExt)
    }

    /// All or nothing: when one message cannot be connected, the others are disconnected.
    @Test func aMessageThatCannotBeConnectedUndoesTheOthers() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        let (pdo, backend) = makePDO(Devices.msix4, on: dispatcher)
        let holder = DEVICE_EXTENSION()
        // Message 2 is already connected at its DIRQL, exclusively.
        var exclusive = Params.fullySpecified(pdo, holder, vector: pdo.device.vectors.filter { $0.kind == .msix }[2].vector)
        exclusive.FullySpecified.ShareVector = FALSE
        #expect(IoConnectInterruptEx(&exclusive) == STATUS_SUCCESS)
        let devExt = DEVICE_EXTENSION()
        var params = Self.passive(pdo, devExt)
        #expect(IoConnectInterruptEx(&params) == STATUS_INVALID_PARAMETER, "the vector cannot be shared")
        #expect(devExt.ConnectionContext == nil)
        #expect(dispatcher.connectedInterrupts.count == 1, "messages 0 and 1 were disconnected again")
        IoDisconnectInterrupt(holder.IntObj)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }
}
