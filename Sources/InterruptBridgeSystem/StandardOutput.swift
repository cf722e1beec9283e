// Whether what a command printed reached its standard output: print ignores write errors,
// so a result written to a full disk or a closed descriptor would otherwise be lost silently.
import CInterruptBridge

public enum StandardOutput {
    /// Flushes standard output; nil when everything written to it arrived, else why not.
    /// A failed flush names its errno; a write that failed earlier (a line-buffered stream,
    /// as under `stdbuf -oL`, writes at each newline and has nothing left to flush) is said
    /// as such, its errno being gone by then.
    public static func unwritten() -> String? {
        var error: Int32 = 0
        guard cib_stdout_failed(&error) != 0 else { return nil }
        if error != 0 { return SystemError("cannot write standard output", code: error).description }
        return "cannot write standard output: a write to it failed"
    }
}
