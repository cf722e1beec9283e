// What the bring-up verbs (watch, wait, trigger) share on top of the tooling's
// DeviceSession: the --profile option and the trigger socket's request.
import ArgumentParser
import InterruptBridgeCore

/// --profile, shared by the bring-up verbs.
struct ProfileOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A device profile (YAML or JSON), preferred to the built-in ones; repeatable.", valueName: "FILE"),
            completion: .file(extensions: ["yaml", "yml", "json"]))
    var profile: [String] = []
}

/// One request on the trigger socket: "raise VECTOR COUNT RATE" (VECTOR -1: every
/// vector in turn; RATE 0: as fast as the interrupts are served).
struct TriggerRequest: Equatable {
    var vector: Int?
    var count: Int
    var rate: Double?

    var encoded: [UInt8] { Array("raise \(vector ?? -1) \(count) \(rate ?? 0)".utf8) }

    init(vector: Int?, count: Int, rate: Double?) {
        self.vector = vector
        self.count = count
        self.rate = rate
    }

    init?(_ bytes: [UInt8]) {
        let words = String(decoding: bytes, as: UTF8.self).split(separator: " ")
        guard words.count == 4, words[0] == "raise", let vector = Int(words[1]), let count = Int(words[2]), let rate = Double(words[3]),
              vector >= -1, (1...1_000_000).contains(count), rate >= 0 else { return nil }
        self.vector = vector < 0 ? nil : vector
        self.count = count
        self.rate = rate == 0 ? nil : rate
    }
}
