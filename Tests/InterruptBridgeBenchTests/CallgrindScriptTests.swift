import Foundation
import InterruptBridgeSystem
import Testing

/// scripts/bench/callgrind.sh documents itself in its header comment; --help prints all of it.
@Suite struct CallgrindScriptTests {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../scripts/bench/callgrind.sh").standardized.path

    /// A fixed line range cut the help short as options were added (--timings, --walk,
    /// --cache-sim and the exit statuses were not printed).
    @Test func helpPrintsEveryOptionAndTheExitStatuses() throws {
        let result = try ChildProcess.run("/bin/bash", [Self.script, "--help"])
        #expect(result.status == 0, "\(result.standardError)")
        for option in ["--counts", "--repeat N:", "--timings:", "--walk:", "--cache-sim:", "Exit status:"] {
            #expect(result.standardOutput.contains(option), "\(option) missing from:\n\(result.standardOutput)")
        }
        #expect(!result.standardOutput.contains("set -euo"), "\(result.standardOutput)")
    }
}
