import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
@testable import InterruptBridgeWDK
import Testing

/// The audit of every facade routine that returns an NTSTATUS against its documented list.
///
/// | routine | documented (seed) | facade returns |
/// |---|---|---|
/// | IoConnectInterrupt | 002: SUCCESS, INVALID_PARAMETER, INSUFFICIENT_RESOURCES | the same three |
/// | IoConnectInterruptEx, WdmlibIoConnectInterruptEx | 004: "Possible error values include" INVALID_DEVICE_REQUEST, INVALID_PARAMETER, INVALID_PARAMETER_1, INVALID_PARAMETER_10, NOT_FOUND | those, SUCCESS, and INSUFFICIENT_RESOURCES |
///
/// Every other facade routine returns VOID, BOOLEAN or KIRQL, as in wdm.h.
@Suite("NTSTATUS audit")
struct StatusAuditTests {
    /// One value of every `ConnectionError` case (the switch makes a new case a compile error here).
    static let everyError: [ConnectionError] = {
        let all: [ConnectionError] = [
            .noDevice, .emptyProcessorMask, .noOnlineProcessor(mask: ProcessorAffinity(rawValue: 1 << 63), online: .first(2)),
            .invalidLevels(irql: .passive, synchronizeIrql: InterruptLevel(5)),
            .processorGroupUnavailable(1), .deviceUsesMessages, .noFallbackRoutine, .noInterrupts, .vectorNotAssigned(12),
            .sharingConflict(vector: 11, reason: "exclusive"), .insufficientResources("slots"),
            .backend(.unsupported(kind: .msix, requested: 4, available: 1)), .backend(.kernelLimit("limit")),
            .backend(.closed), .dispatcherStopped,
        ]
        for error in all {
            switch error {
            case .noDevice, .emptyProcessorMask, .noOnlineProcessor, .invalidLevels, .processorGroupUnavailable, .deviceUsesMessages,
                 .noFallbackRoutine, .noInterrupts, .vectorNotAssigned, .sharingConflict, .insufficientResources, .backend,
                 .dispatcherStopped: break
            }
        }
        return all
    }()

    @Test(arguments: everyError)
    func theLegacyCallReturnsOnlyItsThreeDocumentedStatuses(error: ConnectionError) {
        // Seed 002: "IoConnectInterrupt can return one of the following NTSTATUS values:
        // STATUS_SUCCESS / STATUS_INVALID_PARAMETER / STATUS_INSUFFICIENT_RESOURCES".
        let status = ConnectStatuses.IoConnectInterrupt(error)
        #expect(ConnectStatuses.documentedForIoConnectInterrupt.contains(status), "\(error) -> \(status)")
        #expect(status != STATUS_SUCCESS)
    }

    @Test(arguments: everyError)
    func theExCallReturnsOnlyItsDocumentedStatuses(error: ConnectionError) {
        let status = ConnectStatuses.IoConnectInterruptEx(error)
        #expect(ConnectStatuses.documentedForIoConnectInterruptEx.contains(status), "\(error) -> \(status)")
        #expect(status != STATUS_SUCCESS)
    }

    @Test func theDocumentedListsAreTheSeeds() {
        #expect(ConnectStatuses.documentedForIoConnectInterrupt == [STATUS_SUCCESS, STATUS_INVALID_PARAMETER, STATUS_INSUFFICIENT_RESOURCES])
        #expect(ConnectStatuses.documentedForIoConnectInterruptEx.subtracting([STATUS_SUCCESS, STATUS_INSUFFICIENT_RESOURCES]) == [
            STATUS_INVALID_DEVICE_REQUEST, STATUS_INVALID_PARAMETER, STATUS_INVALID_PARAMETER_1, STATUS_INVALID_PARAMETER_10,
            STATUS_NOT_FOUND,
        ])
    }

    /// The specific mappings a driver relies on (seed 004's examples).
    @Test func theExCallsDocumentedExamples() {
        // "STATUS_INVALID_PARAMETER_10 ... when Parameters->FullySpecified.ProcessorEnableMask does not have any bits set."
        #expect(ConnectStatuses.IoConnectInterruptEx(.emptyProcessorMask) == STATUS_INVALID_PARAMETER_10)
        // "STATUS_INVALID_DEVICE_REQUEST ... Parameters->Version = CONNECT_LINE_BASED, and the system has assigned multiple interrupt messages"
        #expect(ConnectStatuses.IoConnectInterruptEx(.deviceUsesMessages) == STATUS_INVALID_DEVICE_REQUEST)
        // "STATUS_NOT_FOUND ... the specified device has no interrupts, or the specified interrupt vector is not assigned to any device."
        #expect(ConnectStatuses.IoConnectInterruptEx(.noInterrupts) == STATUS_NOT_FOUND)
        #expect(ConnectStatuses.IoConnectInterruptEx(.vectorNotAssigned(12)) == STATUS_NOT_FOUND)
        // "STATUS_INVALID_PARAMETER ... when the caller specified NULL for the device's device object."
        #expect(ConnectStatuses.IoConnectInterruptEx(.noDevice) == STATUS_INVALID_PARAMETER)
        // Seed 002: "STATUS_INVALID_PARAMETER: No processors were specified."
        #expect(ConnectStatuses.IoConnectInterrupt(.emptyProcessorMask) == STATUS_INVALID_PARAMETER)
        #expect(ConnectStatuses.IoConnectInterrupt(.vectorNotAssigned(12)) == STATUS_INVALID_PARAMETER)
    }

    /// The legacy call end to end: every way it can fail here stays in seed 002's list.
    @Test func theLegacyCallEndToEnd() throws {
        let dispatcher = try makeDispatcher()
        defer { dispatcher.shutdown() }
        // The PDO must live: the legacy call finds the vector among the dispatcher's device objects.
        let (pdo, backend) = makePDO(Devices.lineOnly, on: dispatcher)
        defer { withExtendedLifetime(pdo) {} }
        let devExt = DEVICE_EXTENSION()
        func legacy(_ vector: ULONG = 11, _ irql: KIRQL = 5, _ synchronizeIrql: KIRQL = 5, share: BOOLEAN = TRUE,
                    mask: KAFFINITY = 0x1, routine: PKSERVICE_ROUTINE = ConnectStatusTests.isr) -> NTSTATUS {
            IoConnectInterrupt(&devExt.IntObj, routine, devExt, nil, vector, irql, synchronizeIrql, LevelSensitive, share, mask,
                               FALSE, dispatcher: dispatcher)
        }
        #expect(legacy(12) == STATUS_INVALID_PARAMETER, "a vector no device carries")
        #expect(legacy(mask: 0) == STATUS_INVALID_PARAMETER, "no processors")
        #expect(legacy(routine: nil) == STATUS_INVALID_PARAMETER, "no routine")
        #expect(legacy(9) == STATUS_INVALID_PARAMETER, "another vector no device carries")
        #expect(legacy(11, 9, 5) == STATUS_INVALID_PARAMETER, "Irql above SynchronizeIrql")
        #expect(devExt.IntObj == nil)
        #expect(legacy() == STATUS_SUCCESS)
        let shared = try #require(devExt.IntObj)
        devExt.IntObj = nil
        #expect(legacy(share: FALSE) == STATUS_INVALID_PARAMETER, "an exclusive connect on a vector already connected")
        #expect(devExt.IntObj == nil)
        IoDisconnectInterrupt(shared)
        #expect(dispatcher.connectedInterrupts.isEmpty)
        #expect(backend.enabledKind == nil)
    }
}
