import Foundation
import Testing

/// Issue 9, item 6: one lock family, its reason written once (`LockedValue` in
/// InterruptBridgeSystem/Locks.swift: Thread Sanitizer sees pthread mutexes and not
/// Synchronization.Mutex). The library modules take no `Synchronization.Mutex` of their own.
@Suite("One lock family")
struct LockFamilyTests {
    static let sources = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/") + "/Sources"
    static let modules = ["InterruptBridge", "InterruptBridgeSystem", "InterruptBridgeCore", "InterruptBridgeDiscovery",
                          "InterruptBridgeTooling", "InterruptBridgeWDK", "InterruptBridgeDaemon", "InterruptBridgeBench"]

    /// `Mutex<...>` or `Mutex(...)` as a type or a call, not `BlockingMutex`, `pthread_mutex` or a comment.
    static func mutexUses(in text: String) -> [String] {
        text.split(separator: "\n").map(String.init).filter { line in
            let code = line.components(separatedBy: "//")[0]
            return code.range(of: #"(?<![A-Za-z_])Mutex\s*[<(]"#, options: .regularExpression) != nil
        }
    }

    @Test func noLibraryModuleUsesSynchronizationMutex() throws {
        var found: [String] = []
        for module in Self.modules {
            let directory = Self.sources + "/" + module
            let files = FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
            #expect(!files.isEmpty, "no sources under \(directory)")
            for file in files {
                let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
                found += Self.mutexUses(in: text).map { "\(module)/\(file): \($0.trimmingCharacters(in: .whitespaces))" }
            }
        }
        #expect(found.isEmpty, "use LockedValue (Locks.swift says why): \(found)")
    }

    @Test func theScanFindsAMutexAndLeavesTheOthersAlone() {
        #expect(Self.mutexUses(in: "    private let regions = Mutex<[Int]>([])").count == 1)
        #expect(Self.mutexUses(in: "let lock = BlockingMutex()\n// Synchronization.Mutex<T> is invisible to TSan\npthread_mutex_t()").isEmpty)
    }
}
