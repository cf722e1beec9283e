// Reading counters after a run of raises, while a late interrupt may still be moving them.
import InterruptBridgeSystem

/// Counters that a late interrupt may still be moving (a device that signals one raise twice),
/// read until they have caught up with each other. `read` takes them in the order they grow:
/// the ISR's calls, then the signals drained, then the kernel's count. Each can only have
/// grown by the next read, so one reading never shows an interrupt at an earlier stage that a
/// later stage has not counted.
public enum SettledReading {
    /// Reads the figures, and again every 2 ms for up to about 100 ms until `caughtUp` holds
    /// of them; returns the last reading.
    public static func read<Figures>(_ read: () -> Figures, until caughtUp: (Figures) -> Bool) -> Figures {
        var figures = read()
        for _ in 1..<50 {
            if caughtUp(figures) { break }
            PThread.sleep(for: .milliseconds(2))
            figures = read()
        }
        return figures
    }
}
