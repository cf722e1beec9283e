// wdm.h's DEVICE_POWER_STATE, which an ISR tests before touching its device
// (`if (devExt->PowerState != PowerDeviceD0) return FALSE;`, the serial sample's SerialISR).
// The facade has no power IRPs: a driver keeps the value in its extension as it sets it.

/// `DEVICE_POWER_STATE`: D0 (working) to D3 (off), with wdm.h's values.
public struct DEVICE_POWER_STATE: RawRepresentable, Sendable, Hashable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
}
public typealias PDEVICE_POWER_STATE = UnsafeMutablePointer<DEVICE_POWER_STATE>

public let PowerDeviceUnspecified = DEVICE_POWER_STATE(rawValue: 0)
public let PowerDeviceD0 = DEVICE_POWER_STATE(rawValue: 1)
public let PowerDeviceD1 = DEVICE_POWER_STATE(rawValue: 2)
public let PowerDeviceD2 = DEVICE_POWER_STATE(rawValue: 3)
public let PowerDeviceD3 = DEVICE_POWER_STATE(rawValue: 4)
public let PowerDeviceMaximum = DEVICE_POWER_STATE(rawValue: 5)
