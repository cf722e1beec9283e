import ArgumentParser
import Foundation
import InterruptBridgeSystem

/// `irqbridge rig [RIG OPTIONS] -- COMMAND [ARG...]`: the QEMU rig (scripts/rig/run.sh) for
/// users who do not build with SwiftPM: runs COMMAND inside the guest with emulated PCI
/// devices, streams its output, and exits with its status.
struct RigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rig",
        abstract: "Run a command inside the QEMU rig: real VFIO/UIO interrupts from emulated PCI devices (root).",
        discussion: """
            Every argument goes to the rig's run.sh (`irqbridge rig --help` shows its options), e.g.
              irqbridge rig --devices edu --qemu-device rtl8139 --bind 0000:00:03.0=vfio-pci -- ./my-driver-test
            Exit status: COMMAND's; 124 the watchdog fired; 125 the rig failed.

            The rig's scripts are looked up in order: $IRQBRIDGE_RIG_DIR; PREFIX/share/irqbridge/rig \
            beside an installed PREFIX/bin/irqbridge (install them with \
            `cp -r scripts/rig PREFIX/share/irqbridge/`); scripts/rig in a checkout above the binary \
            (.build/debug/irqbridge), or in the InterruptBridge dependency of the package whose \
            .build holds the binary (`swift build --product irqbridge` in your package). The cache (base image, run directories) goes to $RIG_CACHE_DIR, \
            by default the checkout's .rig when run inside that checkout, else $XDG_CACHE_HOME/irqbridge/rig \
            or ~/.cache/irqbridge/rig.
            """
    )

    @Argument(parsing: .captureForPassthrough, help: "run.sh's options, `--`, then the command")
    var arguments: [String] = []

    func run() throws {
        let location: (directory: String, installed: Bool)
        do {
            location = try Self.rigDirectory()
        } catch let failure as CommandFailure where arguments.first == "--help" || arguments.first == "-h" {
            // run.sh prints the full help; without it, this command's own, and what is missing.
            print(Self.helpMessage())
            printError("irqbridge: \(failure.description)")
            return
        }
        // The checkout's own .rig only for work inside that checkout: a rig taken from an
        // installed copy, or from another package's checkout (IRQBRIDGE_RIG_DIR pointing into a
        // dependency), keeps its cache in the user's cache directory, not in someone's tree.
        if getenv("RIG_CACHE_DIR") == nil, location.installed || !Self.isInsideCheckout(of: location.directory) {
            let cacheHome = getenv("XDG_CACHE_HOME").map { String(cString: $0) }
                ?? (getenv("HOME").map { String(cString: $0) + "/.cache" } ?? "/var/cache")
            setenv("RIG_CACHE_DIR", cacheHome + "/irqbridge/rig", 1)
        }
        // run.sh shares this process group, so a Ctrl-C reaches it; a SIGTERM or SIGKILL sent to
        // this process alone does not: run.sh watches this process and stops QEMU once it is gone.
        setenv("RIG_WATCH_PID", String(getpid()), 1)
        let status: Int32
        do {
            status = try ChildProcess.stream("/bin/bash", [location.directory + "/run.sh"] + arguments,
                                             output: { StandardOutput.write($0) },
                                             error: { StandardError.write(bytes: $0) })
        } catch {
            throw CommandFailure.failed("cannot start the rig: \(error)")
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// Whether the current directory is inside the checkout that holds `rigDirectory`
    /// (CHECKOUT/scripts/rig).
    static func isInsideCheckout(of rigDirectory: String) -> Bool {
        let here = FileManager.default.currentDirectoryPath
        let absolute = rigDirectory.hasPrefix("/") ? rigDirectory : here + "/" + rigDirectory
        let checkout = (((absolute as NSString).standardizingPath as NSString).deletingLastPathComponent as NSString)
            .deletingLastPathComponent
        let current = (here as NSString).standardizingPath
        return current == checkout || current.hasPrefix(checkout + "/")
    }

    /// The directory holding run.sh, and whether it is an installed copy (no checkout around it).
    static func rigDirectory() throws -> (directory: String, installed: Bool) {
        if let explicit = getenv("IRQBRIDGE_RIG_DIR").map({ String(cString: $0) }) {
            guard FileIO.exists(explicit + "/run.sh") else {
                throw CommandFailure.badInput("IRQBRIDGE_RIG_DIR=\(explicit) has no run.sh")
            }
            return (explicit, !FileIO.exists(explicit + "/../bootstrap.sh"))
        }
        let executable = (try? FileIO.readlink("/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = (executable as NSString).deletingLastPathComponent
        let prefix = (directory as NSString).deletingLastPathComponent
        let installed = (prefix == "/" ? "" : prefix) + "/share/irqbridge/rig"
        if FileIO.exists(installed + "/run.sh") { return (installed, true) }
        while directory != "/" && !directory.isEmpty {
            let candidate = directory + "/scripts/rig"
            if FileIO.exists(candidate + "/run.sh") { return (candidate, false) }
            if let dependency = dependencyRigDirectory(buildDirectory: directory) { return (dependency, false) }
            directory = (directory as NSString).deletingLastPathComponent
        }
        throw CommandFailure.failed(
            "the rig's scripts were not found: set IRQBRIDGE_RIG_DIR to InterruptBridge's scripts/rig, or install them as \(installed)")
    }

    /// scripts/rig of the InterruptBridge dependency named in a SwiftPM build directory's
    /// workspace-state.json: irqbridge built in a user's package sits in that package's .build,
    /// with no checkout of InterruptBridge above it (a path dependency's is anywhere, a cloned
    /// one's under checkouts/). The one with the rig plugin beside its scripts is the one.
    static func dependencyRigDirectory(buildDirectory: String) -> String? {
        guard let data = FileManager.default.contents(atPath: buildDirectory + "/workspace-state.json"),
              let state = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let dependencies = (state["object"] as? [String: Any])?["dependencies"] as? [[String: Any]]
        else { return nil }
        for dependency in dependencies {
            let state = dependency["state"] as? [String: Any]
            let root = state?["name"] as? String == "fileSystem"
                ? state?["path"] as? String
                : (dependency["subpath"] as? String).map { buildDirectory + "/checkouts/" + $0 }
            guard let root else { continue }
            if FileIO.exists(root + "/scripts/rig/run.sh"), FileIO.exists(root + "/Plugins/RigPlugin") { return root + "/scripts/rig" }
        }
        return nil
    }
}
