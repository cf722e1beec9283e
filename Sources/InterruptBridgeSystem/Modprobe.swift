// Loading a kernel module by name: modprobe(8), run as a child process.
#if canImport(Glibc)
import Glibc
#endif

public enum Modprobe {
    /// Runs `modprobe NAME` (searched in PATH, then /sbin and /usr/sbin) and waits for it.
    /// Throws when it cannot be started or exits non-zero.
    public static func load(_ module: String) throws(SystemError) {
        let candidates = ["modprobe", "/usr/sbin/modprobe", "/sbin/modprobe"]
        var lastError = SystemError("modprobe \(module): not found", code: ENOENT)
        for program in candidates {
            var pid: pid_t = 0
            let argv: [UnsafeMutablePointer<CChar>?] = [strdup(program), strdup(module), nil]
            defer { for pointer in argv { free(pointer) } }
            let started = posix_spawnp(&pid, program, nil, nil, argv, environ)
            guard started == 0 else {
                lastError = SystemError("spawn \(program) \(module)", code: started)
                continue
            }
            var status: Int32 = 0
            _ = try syscall("waitpid modprobe") { waitpid(pid, &status, 0) }
            let exited = status & 0x7f == 0
            let code = (status >> 8) & 0xff
            if exited && code == 0 { return }
            throw SystemError("\(program) \(module) exited with status \(exited ? code : 128 + (status & 0x7f))", code: ENOENT)
        }
        throw lastError
    }
}
