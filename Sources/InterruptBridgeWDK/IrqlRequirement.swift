// The IRQL rule a routine's reference page states ("Callers of KeCancelTimer must be
// running at IRQL <= DISPATCH_LEVEL"): Windows bug-checks a caller that breaks it, and
// here the process stops with the routine, the IRQL it was called at and the rule.

/// Stops the process when the caller runs above `highest` (PASSIVE_LEVEL, APC_LEVEL or
/// DISPATCH_LEVEL), saying "CALLER at IRQL n: it must run at PASSIVE_LEVEL" (or "at or
/// below APC_LEVEL", "at or below DISPATCH_LEVEL"), with `advice` in parentheses.
func requireIrql(atMost highest: KIRQL, _ caller: String, advice: String? = nil) {
    let irql = KeGetCurrentIrql()
    guard irql > highest else { return }
    let rule = switch highest {
    case PASSIVE_LEVEL: "at PASSIVE_LEVEL"
    case APC_LEVEL: "at or below APC_LEVEL"
    case DISPATCH_LEVEL: "at or below DISPATCH_LEVEL"
    default: "at or below IRQL \(highest)"
    }
    preconditionFailure("\(caller) at IRQL \(irql): it must run \(rule)" + (advice.map { " (\($0))" } ?? ""))
}
