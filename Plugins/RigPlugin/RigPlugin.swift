// `swift package --disable-sandbox rig [RIG OPTIONS] -- test [ARGS]` / `-- run PRODUCT [ARGS]`:
// builds the user's tests (or an executable) and runs them inside InterruptBridge's QEMU rig
// (scripts/rig/run.sh), streaming their output and failing when they fail.
//
// The rig's scripts travel with the InterruptBridge package: the plugin runs them from
// InterruptBridge's own directory (found among the user's dependencies, or from this source
// file's path), and nothing is copied into the user's package.
import Foundation
import PackagePlugin

@main
struct RigPlugin: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {
        let request = try RigRequest(arguments)
        if request.wantsHelp {
            print(RigRequest.usage)
            return
        }
        let runScript = try Self.rigScript(context)
        let guestCommand = try build(request.workload, in: context)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [runScript.path] + request.rigOptions + ["--"] + guestCommand
        var environment = ProcessInfo.processInfo.environment
        // The rig's cache (base image, run directories) lives in the user's build directory,
        // not in the InterruptBridge checkout (which may be read-only or shared).
        if environment["RIG_CACHE_DIR"] == nil {
            environment["RIG_CACHE_DIR"] = context.pluginWorkDirectoryURL.appendingPathComponent("cache").path
        }
        // On Ctrl-C SwiftPM ends this plugin outright, and run.sh runs in a session of its own
        // (Foundation's Process), so no signal reaches it: it watches this process instead and
        // stops QEMU once it is gone (seen: QEMU left running to its 600 s watchdog).
        environment["RIG_WATCH_PID"] = String(getpid())
        process.environment = environment
        // stdout and stderr are inherited: the guest's output streams through as it comes when
        // SwiftPM's output is a terminal (into a pipe, SwiftPM 6.3 holds it until the plugin ends).
        // The thread running performCommand has SIGTERM, SIGINT, SIGHUP and more blocked, and a
        // child inherits the mask across exec: run.sh's traps would never fire and QEMU would
        // ignore the watchdog's SIGTERM. The child starts with nothing blocked.
        var unblocked = sigset_t()
        var previous = sigset_t()
        sigemptyset(&unblocked)
        pthread_sigmask(SIG_SETMASK, &unblocked, &previous)
        do { try process.run() } catch {
            pthread_sigmask(SIG_SETMASK, &previous, nil)
            throw error
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        process.waitUntilExit()
        let status = process.terminationStatus
        guard status == 0 else {
            Diagnostics.error(request.failure(status))
            // SwiftPM reports a failing plugin as its own failure (status 1); the rig's own
            // status is in the message above and on stderr.
            exit(status)
        }
    }

    /// Builds what the guest runs and returns its command line.
    private func build(_ workload: RigRequest.Workload, in context: PluginContext) throws -> [String] {
        switch workload {
        case .test(let arguments):
            let result = try packageManager.build(.all(includingTests: true), parameters: .init(configuration: .debug, logging: .concise, echoLogs: true))
            guard result.succeeded else { throw RigPluginError("the build failed (see above)") }
            let bundle = try Self.testBundle(for: context, artifacts: result.builtArtifacts)
            // One test at a time unless asked otherwise: the rig's devices are shared by every
            // suite, and VFIO lets one user open a device at a time (`.serialized` orders a
            // suite's own tests only), so suites in parallel meet as EBUSY.
            let chosen = arguments.contains { ["--parallel", "--no-parallel"].contains($0) || $0.hasPrefix("--experimental-maximum-parallelization-width") }
            let serial = chosen ? [] : ["--no-parallel"]
            return [bundle.path, "--testing-library", "swift-testing"] + serial + arguments
        case .run(let product, let arguments):
            let result = try packageManager.build(.product(product), parameters: .init(configuration: .debug, logging: .concise, echoLogs: true))
            guard result.succeeded else { throw RigPluginError("building \(product) failed (see above)") }
            guard let executable = result.builtArtifacts.first(where: { $0.kind == .executable && $0.url.lastPathComponent == product }) ??
                    result.builtArtifacts.first(where: { $0.kind == .executable }) else {
                throw RigPluginError("\(product) is not an executable product of \(context.package.displayName)")
            }
            return [executable.url.path] + arguments
        }
    }

    /// `<Package>PackageTests.xctest` in the build's binary directory.
    static func testBundle(for context: PluginContext, artifacts: [PackageManager.BuildResult.BuiltArtifact]) throws -> URL {
        let name = "\(context.package.displayName)PackageTests.xctest"
        var directories = artifacts.map { $0.url.deletingLastPathComponent() }
        // The scratch directory is an ancestor of the plugin's work directory (.build/plugins/...).
        var ancestor = context.pluginWorkDirectoryURL
        for _ in 0..<6 {
            ancestor = ancestor.deletingLastPathComponent()
            directories.append(ancestor.appendingPathComponent("debug"))
        }
        directories.append(context.package.directoryURL.appendingPathComponent(".build/debug"))
        for directory in directories {
            let candidate = directory.appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        throw RigPluginError("no test bundle \(name) after the build: does \(context.package.displayName) have test targets?")
    }

    /// InterruptBridge's scripts/rig/run.sh: the dependency's directory when the user's package
    /// depends on InterruptBridge, else the checkout this plugin's source was compiled from.
    static func rigScript(_ context: PluginContext) throws -> URL {
        var candidates: [URL] = []
        if let bridge = findPackage(named: "InterruptBridge", in: context.package) {
            candidates.append(bridge.directoryURL)
        }
        // #filePath: <InterruptBridge>/Plugins/RigPlugin/RigPlugin.swift.
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent())
        for root in candidates {
            let script = root.appendingPathComponent("scripts/rig/run.sh")
            if FileManager.default.fileExists(atPath: script.path) { return script }
        }
        throw RigPluginError("InterruptBridge's scripts/rig/run.sh not found (looked in \(candidates.map(\.path).joined(separator: ", ")))")
    }

    private static func findPackage(named name: String, in package: Package) -> Package? {
        var queue = package.dependencies.map(\.package)
        var seen = Set<String>()
        while !queue.isEmpty {
            let candidate = queue.removeFirst()
            guard seen.insert(candidate.id).inserted else { continue }
            if candidate.displayName == name { return candidate }
            queue += candidate.dependencies.map(\.package)
        }
        return package.displayName == name ? package : nil
    }
}

struct RigPluginError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
