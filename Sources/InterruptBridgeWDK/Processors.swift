// The processor routines drivers call around their ISRs and DPCs: which processor runs
// the caller, how many are active, and a short busy-wait.
import InterruptBridgeCore
import InterruptBridgeSystem

/// PROCESSOR_NUMBER: a processor as a group and a number within it: here Linux's CPU
/// number n is group n / 64, number n % 64. The bridge serves group 0 (CPUs 0 to 63).
public struct PROCESSOR_NUMBER: Sendable, Equatable, ZeroInitializable {
    public var Group: USHORT
    public var Number: UCHAR
    public var Reserved: UCHAR
    public init() { Group = 0; Number = 0; Reserved = 0 }
    public init(Group: USHORT, Number: UCHAR, Reserved: UCHAR = 0) {
        self.Group = Group
        self.Number = Number
        self.Reserved = Reserved
    }
}
public typealias PPROCESSOR_NUMBER = PROCESSOR_NUMBER

/// GROUP_AFFINITY: a set of processors within one group (`Mask`, bit N = processor N
/// of `Group`), as IoGetAffinityInterrupt reports an ISR's.
public struct GROUP_AFFINITY: Sendable, Equatable, ZeroInitializable {
    public var Mask: KAFFINITY
    public var Group: USHORT
    public var Reserved: (USHORT, USHORT, USHORT)
    public init() { Mask = 0; Group = 0; Reserved = (0, 0, 0) }
    public init(Mask: KAFFINITY, Group: USHORT) {
        self.Mask = Mask
        self.Group = Group
        self.Reserved = (0, 0, 0)
    }
    public static func == (lhs: GROUP_AFFINITY, rhs: GROUP_AFFINITY) -> Bool {
        lhs.Mask == rhs.Mask && lhs.Group == rhs.Group && lhs.Reserved == rhs.Reserved
    }
}
public typealias PGROUP_AFFINITY = GROUP_AFFINITY

/// ALL_PROCESSOR_GROUPS: "every group", for the routines that count processors.
public let ALL_PROCESSOR_GROUPS: USHORT = 0xffff

/// `KeGetCurrentProcessorNumber()`: the processor the calling thread runs on now, Linux's
/// CPU number (the kernel's getcpu, through the vDSO: no allocation, safe in an ISR). A
/// thread that may migrate gets an answer that can be stale the moment it returns, as at
/// PASSIVE_LEVEL on Windows; the dispatch threads stay where their dispatcher pinned them.
/// Linux numbers its CPUs with holes where some are offline (`nosmt`, hot-unplug), so it
/// can reach KeQueryActiveProcessorCount or more: index per-processor arrays by the
/// highest number in KeQueryActiveProcessors, not by the count.
public func KeGetCurrentProcessorNumber() -> ULONG {
    ULONG(max(0, PThread.currentProcessor))
}

/// `KeGetCurrentProcessorNumberEx(&ProcNumber)`: the same as a group and a number within
/// it (CPU n: group n / 64, number n % 64); returns the system-wide index, n. `ProcNumber`
/// may be nil, as NULL.
@discardableResult
public func KeGetCurrentProcessorNumberEx(_ ProcNumber: UnsafeMutablePointer<PROCESSOR_NUMBER>? = nil) -> ULONG {
    let index = KeGetCurrentProcessorNumber()
    ProcNumber?.pointee = PROCESSOR_NUMBER(Group: USHORT(truncatingIfNeeded: index / 64), Number: UCHAR(index % 64))
    return index
}

/// `KeGetCurrentProcessorNumberEx(&ProcNumber)` with the result in a Swift variable.
@discardableResult
public func KeGetCurrentProcessorNumberEx(_ ProcNumber: inout PROCESSOR_NUMBER) -> ULONG {
    withUnsafeMutablePointer(to: &ProcNumber) { KeGetCurrentProcessorNumberEx($0) }
}

/// `KeGetCurrentProcessorIndex()`: the system-wide index of the processor the caller
/// runs on, what KeGetCurrentProcessorNumberEx returns (Linux's CPU number).
public func KeGetCurrentProcessorIndex() -> ULONG {
    KeGetCurrentProcessorNumber()
}

/// `KeQueryActiveProcessors()`: the active (online) processors of group 0 as a mask
/// (read from sysfs at each call, like the two counts below: not for an ISR).
public func KeQueryActiveProcessors() -> KAFFINITY {
    KAFFINITY(truncatingIfNeeded: activeProcessors().rawValue)
}

/// `KeQueryActiveProcessorCount(&ActiveProcessors)`: how many processors are active;
/// stores their mask in `ActiveProcessors` when given.
public func KeQueryActiveProcessorCount(_ ActiveProcessors: UnsafeMutablePointer<KAFFINITY>? = nil) -> ULONG {
    let active = activeProcessors()
    ActiveProcessors?.pointee = KAFFINITY(truncatingIfNeeded: active.rawValue)
    return ULONG(active.rawValue.nonzeroBitCount)
}

/// `KeQueryActiveProcessorCountEx(GroupNumber)`: the active processors of a group
/// (0, or ALL_PROCESSOR_GROUPS); another group has none.
public func KeQueryActiveProcessorCountEx(_ GroupNumber: USHORT) -> ULONG {
    guard GroupNumber == 0 || GroupNumber == ALL_PROCESSOR_GROUPS else { return 0 }
    return ULONG(activeProcessors().rawValue.nonzeroBitCount)
}

private func activeProcessors() -> ProcessorAffinity {
    (try? SystemFacts.onlineProcessors()) ?? ProcessorAffinity(rawValue: 1)
}

/// `KeStallExecutionProcessor(MicroSeconds)`: busy-waits at least `MicroSeconds` on the
/// calling thread, keeping its processor (and the dispatch loop, in an ISR: every other
/// interrupt of the loop waits). Reads the monotonic clock; no allocation, no sleep, so
/// an ISR may call it, as drivers do for a device's settling times. Windows asks for
/// stalls of at most 50 us; a longer one is honoured.
public func KeStallExecutionProcessor(_ MicroSeconds: ULONG) {
    let deadline = MonotonicClock.nanoseconds() &+ UInt64(MicroSeconds) &* 1_000
    while MonotonicClock.nanoseconds() < deadline {}
}
