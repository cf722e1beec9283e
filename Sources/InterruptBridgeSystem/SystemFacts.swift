#if canImport(Glibc)
import Glibc
#endif
public import InterruptBridgeCore

/// Reads the facts `ResourceTranslator` needs from the running kernel:
/// online processors and the affinity of the IRQs INTx pins are routed to.
public enum SystemFacts {
    public static let onlineCPUsPath = "/sys/devices/system/cpu/online"

    /// Online processors, and `/proc/irq/N/smp_affinity` for each of `irqs` that has one.
    /// IRQs without a readable affinity are left out (the translator then uses every online processor).
    public static func read(irqs: some Sequence<UInt32>) throws(SystemError) -> ResourceTranslator.SystemFacts {
        let processors = try onlineProcessors()
        var affinity: [UInt32: ProcessorAffinity] = [:]
        for irq in irqs where affinity[irq] == nil {
            if let text = try? readText("/proc/irq/\(irq)/smp_affinity"), let mask = ProcessorAffinity(linuxHexMask: text) {
                affinity[irq] = mask.intersection(processors)
            }
        }
        return ResourceTranslator.SystemFacts(onlineProcessors: processors, irqAffinity: affinity)
    }

    /// The online processors (`/sys/devices/system/cpu/online`; those below 64, group 0):
    /// what Windows calls the active processors.
    public static func onlineProcessors() throws(SystemError) -> ProcessorAffinity {
        let online = try readText(onlineCPUsPath)
        guard let processors = ProcessorAffinity(linuxCPUList: online), !processors.isEmpty else {
            throw SystemError("parse \(onlineCPUsPath) (\"\(online)\")", code: EINVAL)
        }
        return processors
    }

    /// The whole (small) text file at `path`: a sysfs or procfs attribute.
    public static func readText(_ path: String) throws(SystemError) -> String {
        let fd = try syscall("open \(path)") { open(path, O_RDONLY | O_CLOEXEC) }
        defer { _ = Glibc.close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try syscall("read \(path)") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if count == 0 { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
