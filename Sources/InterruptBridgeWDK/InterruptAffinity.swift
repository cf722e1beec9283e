// IoGetAffinityInterrupt: the processors a connected ISR's interrupt is routed to.
import InterruptBridge

/// `IoGetAffinityInterrupt(InterruptObject, &GroupAffinity)` (wdm.h; iointex.h's
/// WdmlibIoGetAffinityInterrupt): writes the group affinity the interrupt object was
/// connected with, the translated descriptor's (or the legacy call's ProcessorEnableMask),
/// and its group: 0, the one group served here (a connect naming another is refused).
/// STATUS_INVALID_PARAMETER, leaving `GroupAffinity` as it was, when
/// `InterruptObject` is NULL or no longer connected (Windows frees a disconnected
/// KINTERRUPT, so the pointer names no valid object). Any IRQL; no allocation.
public func IoGetAffinityInterrupt(_ InterruptObject: PKINTERRUPT, _ GroupAffinity: inout GROUP_AFFINITY) -> NTSTATUS {
    guard let InterruptObject, InterruptObject.isConnected else { return STATUS_INVALID_PARAMETER }
    GroupAffinity = GROUP_AFFINITY(Mask: KAFFINITY(truncatingIfNeeded: InterruptObject.affinity.rawValue), Group: InterruptObject.group)
    return STATUS_SUCCESS
}

/// `WdmlibIoGetAffinityInterrupt`: IoGetAffinityInterrupt under iointex.h's name.
public func WdmlibIoGetAffinityInterrupt(_ InterruptObject: PKINTERRUPT, _ GroupAffinity: inout GROUP_AFFINITY) -> NTSTATUS {
    IoGetAffinityInterrupt(InterruptObject, &GroupAffinity)
}
