// `irqbridge selftest --json`: one JSON object per case, one per line, then the totals.
import Foundation
import InterruptBridge
import InterruptBridgeSystem
import InterruptBridgeTooling

/// One selftest case as JSON (durations in nanoseconds).
struct SelftestJSON: Encodable {
    struct Figures: Encodable {
        var p50Nanoseconds: UInt64
        var p99Nanoseconds: UInt64
        var maxNanoseconds: UInt64

        init?(_ figures: (p50: Duration, p99: Duration, max: Duration)?) {
            guard let figures else { return nil }
            p50Nanoseconds = figures.p50.nanoseconds
            p99Nanoseconds = figures.p99.nanoseconds
            maxNanoseconds = figures.max.nanoseconds
        }
    }

    struct Vector: Encodable {
        var message: UInt32
        var vector: UInt32
        /// Interrupts timed from their raise to the ISR.
        var count: UInt64
        var stimulusToISR: Figures?
        var isrDuration: Figures?

        enum CodingKeys: String, CodingKey { case message, vector, count, stimulusToISR, isrDuration }

        /// Every key, null when not known (the synthesized encoding leaves nil ones out).
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(message, forKey: .message)
            try container.encode(vector, forKey: .vector)
            try container.encode(count, forKey: .count)
            try container.encode(stimulusToISR, forKey: .stimulusToISR)
            try container.encode(isrDuration, forKey: .isrDuration)
        }
    }

    var label: String
    var device: String
    var expected: Int
    var delivered: Int
    var wrongMessages: Int
    var kernel: UInt64?
    /// Signals the dispatch loop took (folded ones included).
    var signals: UInt64
    var passed: Bool
    var failure: String?
    /// Said of a passing case: the device signalled more than was raised.
    var note: String?
    var meanRoundTripNanoseconds: UInt64?
    /// Measured by the dispatch loop (every vector together).
    var stimulusToISR: Figures?
    var isrDuration: Figures?
    /// Measured by the raising thread: stimulus to ISR plus the way back to it.
    var raiseToSeen: Figures?
    var vectors: [Vector]

    init(_ result: SelftestResult) {
        label = result.label
        device = result.address.description
        expected = result.expected
        delivered = result.delivered
        wrongMessages = result.wrongMessages
        kernel = result.kernelDelta
        signals = result.signals
        passed = result.passed
        failure = result.failure
        note = result.note
        meanRoundTripNanoseconds = result.meanRoundTrip?.nanoseconds
        stimulusToISR = Figures(result.stimulusToISR)
        isrDuration = Figures(result.isrDuration)
        raiseToSeen = Figures(result.raiseToSeen)
        vectors = result.vectors.map { vector in
            Vector(message: vector.message, vector: vector.vector, count: vector.stimulusToISR.count,
                   stimulusToISR: Figures(LatencySummary(vector.stimulusToISR).figures),
                   isrDuration: Figures(LatencySummary(vector.isrDuration).figures))
        }
    }

    enum CodingKeys: String, CodingKey {
        case label, device, expected, delivered, wrongMessages, kernel, signals, passed, failure, note, meanRoundTripNanoseconds
        case stimulusToISR, isrDuration, raiseToSeen, vectors
    }

    /// Every key, null when not known (the synthesized encoding leaves nil ones out).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(label, forKey: .label)
        try container.encode(device, forKey: .device)
        try container.encode(expected, forKey: .expected)
        try container.encode(delivered, forKey: .delivered)
        try container.encode(wrongMessages, forKey: .wrongMessages)
        try container.encode(kernel, forKey: .kernel)
        try container.encode(signals, forKey: .signals)
        try container.encode(passed, forKey: .passed)
        try container.encode(failure, forKey: .failure)
        try container.encode(note, forKey: .note)
        try container.encode(meanRoundTripNanoseconds, forKey: .meanRoundTripNanoseconds)
        try container.encode(stimulusToISR, forKey: .stimulusToISR)
        try container.encode(isrDuration, forKey: .isrDuration)
        try container.encode(raiseToSeen, forKey: .raiseToSeen)
        try container.encode(vectors, forKey: .vectors)
    }

    static func line(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// The last line of `selftest --json`.
struct SelftestTotalsJSON: Encodable {
    var passed: Int
    var failed: Int
}
