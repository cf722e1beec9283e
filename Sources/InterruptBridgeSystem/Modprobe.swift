// Loading a kernel module by name: modprobe(8), run as a child process.
#if canImport(Glibc)
import Glibc
#endif

public enum Modprobe {
    /// Runs `modprobe NAME` (searched in PATH, then /usr/sbin and /sbin) and waits for it.
    /// Throws when it cannot be started or exits non-zero (with what it printed).
    public static func load(_ module: String) throws(SystemError) {
        var lastError = SystemError("modprobe \(module): not found", code: ENOENT)
        for program in ["modprobe", "/usr/sbin/modprobe", "/sbin/modprobe"] {
            let result: ChildProcess.Result
            do {
                result = try ChildProcess.run(program, [module])
            } catch {
                lastError = error
                continue
            }
            if result.status == 0 { return }
            let said = result.standardError.split(separator: "\n").first.map { ": \($0)" } ?? ""
            throw SystemError("\(program) \(module) exited with status \(result.status)\(said)", code: ENOENT)
        }
        throw lastError
    }
}
