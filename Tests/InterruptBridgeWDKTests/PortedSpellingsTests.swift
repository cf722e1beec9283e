import InterruptBridgeWDK
import Synchronization
import Testing

/// Spellings a WDM driver's interrupt path uses beside the connect routines, found porting
/// the Server 2003 DDK serial driver (SerialISR, SerialGetMappedAddress, its timer helpers):
/// they compile as written and have wdm.h's and ntstatus.h's values.
@Suite("Ported WDM spellings")
struct PortedSpellingsTests {
    final class Extension: @unchecked Sendable {
        var PowerState = PowerDeviceD3
        var Timer = KTIMER()
        var Event = KEVENT()
    }

    @Test func wdmValues() {
        #expect([PowerDeviceUnspecified, PowerDeviceD0, PowerDeviceD1, PowerDeviceD2, PowerDeviceD3, PowerDeviceMaximum].map(\.rawValue)
                == [0, 1, 2, 3, 4, 5])
        #expect(STATUS_NONE_MAPPED == NTSTATUS(0xC000_0073) && !NT_SUCCESS(STATUS_NONE_MAPPED))
        #expect("\(STATUS_NONE_MAPPED)".contains("STATUS_NONE_MAPPED"))
    }

    /// ReactOS serial.sys keeps its port base in a ULONG and turns it back with basetsd.h's
    /// macro before each access: `ComPortBase = ULongToPtr(DeviceExtension->BaseAddress)`.
    @Test func aPortBaseKeptInAULongTurnsBackIntoAPointer() {
        let BaseAddress: ULONG = 0xc060
        let ComPortBase = ULongToPtr(BaseAddress)
        #expect(UInt(bitPattern: ComPortBase! + 5) == 0xc065)
        let Wide: PULONG? = ULongToPtr(BaseAddress)
        #expect(UInt(bitPattern: Wide) == 0xc060)
        #expect(PtrToUlong(ComPortBase) == BaseAddress)
        #expect(ULongToPtr(0) == nil, "NULL")
        // A port no device object decodes reads all ones, as an unclaimed x86 port does.
        #expect(READ_PORT_UCHAR(ULongToPtr(0xfff0)! + 2) == 0xff)
    }

    /// ReactOS serial.sys's write path runs its DPC routine itself, with no DPC:
    /// `SerialSendByte(NULL, DeviceExtension, NULL, NULL)`.
    @Test func aDeferredRoutineCalledDirectlyTakesNullForItsDpc() {
        let ran = Mutex<[Bool]>([])
        let SerialSendByte: KDEFERRED_ROUTINE = { Dpc, pDeviceExtension, _, _ in
            ran.withLock { $0.append(Dpc.isInitialized || pDeviceExtension == nil) }
        }
        SerialSendByte(nil, Extension(), nil, nil)
        let Dpc: PKDPC = nil
        #expect(!Dpc.isInitialized)
        #expect(KeInsertQueueDpc(Dpc, nil, nil) == FALSE, "an uninitialized DPC is not queued")
        #expect(ran.withLock { $0 } == [false], "the routine ran once, given the uninitialized DPC")
    }

    /// ReactOS serial.sys's start and buffer paths (pnp.c, circularbuffer.c, misc.c): ntstatus.h's values.
    @Test func theStatusesAStartPathAndItsBuffersReturn() {
        let expected: [(NTSTATUS, UInt32, String)] = [
            (STATUS_BUFFER_OVERFLOW, 0x8000_0005, "STATUS_BUFFER_OVERFLOW"),
            (STATUS_MORE_PROCESSING_REQUIRED, 0xC000_0016, "STATUS_MORE_PROCESSING_REQUIRED"),
            (STATUS_BUFFER_TOO_SMALL, 0xC000_0023, "STATUS_BUFFER_TOO_SMALL"),
            (STATUS_REVISION_MISMATCH, 0xC000_0059, "STATUS_REVISION_MISMATCH"),
            (STATUS_ARRAY_BOUNDS_EXCEEDED, 0xC000_008C, "STATUS_ARRAY_BOUNDS_EXCEEDED"),
        ]
        for (status, value, name) in expected {
            #expect(status == NTSTATUS(value) && !NT_SUCCESS(status))
            #expect("\(status)".hasPrefix(name + " ("))
        }
        #expect(NT_WARNING(STATUS_BUFFER_OVERFLOW))
    }

    @Test func anIsrsPowerCheckAndTheTimerAndEventPointerTypesPortAsWritten() {
        let Extension = Extension()
        // isr.c: if (Extension->PowerState != PowerDeviceD0) { return FALSE; }
        #expect(Extension.PowerState != PowerDeviceD0)
        Extension.PowerState = PowerDeviceD0
        #expect(Extension.PowerState == PowerDeviceD0)
        // utils.c: BOOLEAN SerialSetTimer(IN PKTIMER Timer, ...); events as PKEVENT, set with a
        // literal increment (KeSetEvent(&Event, 0, FALSE)), which must not be ambiguous.
        func SerialCancelTimer(_ Timer: PKTIMER) -> BOOLEAN { KeCancelTimer(Timer) }
        func Signal(_ Event: PKEVENT) { KeSetEvent(Event, 0, FALSE) }
        KeInitializeTimer(&Extension.Timer)
        #expect(SerialCancelTimer(Extension.Timer) == FALSE, "not set")
        KeInitializeEvent(&Extension.Event, NotificationEvent, FALSE)
        Signal(Extension.Event)
        #expect(KeReadStateEvent(Extension.Event) != 0)
        ASSERT(Extension.PowerState == PowerDeviceD0)
        NT_ASSERT(KeReadStateEvent(Extension.Event) != 0)
    }

    /// wdm.h's union `u` has these members too, over the same 16 bytes (pack 4, at offset 4):
    /// a driver that walks every descriptor type compiles, and they alias as in C.
    @Test func everyMemberOfTheDescriptorUnionIsThere() {
        var descriptor = CM_PARTIAL_RESOURCE_DESCRIPTOR()
        descriptor.Type = CmResourceTypeDma
        descriptor.u.Dma.Channel = 5
        descriptor.u.Dma.Port = 7
        #expect(descriptor.u.Generic.Start.QuadPart == 0x7_0000_0005, "Channel and Port are Start's low and high parts")
        descriptor.u.DeviceSpecificData.DataSize = 16
        #expect(descriptor.u.DeviceSpecificData.DataSize == 16 && descriptor.u.Dma.Channel == 16 && descriptor.u.BusNumber.Start == 16)
        descriptor.u.BusNumber.Reserved = 9
        #expect(descriptor.u.DevicePrivate.Data == [16, 7, 9])
        #expect(descriptor.u.Memory.Length == 9, "the third ULONG is a range's Length")
        descriptor.u.DevicePrivate.Data = [1, 2, 3]
        #expect(descriptor.u.BusNumber.Start == 1 && descriptor.u.BusNumber.Length == 2 && descriptor.u.DeviceSpecificData.Reserved2 == 3)
    }
}
