// `irqbridge selftest --json`: one JSON object per case, one per line, then the totals.
import Foundation
import InterruptBridge
import InterruptBridgeCore
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
        @NullEncoded var stimulusToISR: Figures?
        @NullEncoded var isrDuration: Figures?
    }

    var label: String
    var device: String
    var expected: Int
    var delivered: Int
    var wrongMessages: Int
    @NullEncoded var kernel: UInt64?
    /// Signals the dispatch loop took (folded ones included).
    var signals: UInt64
    var passed: Bool
    @NullEncoded var failure: String?
    /// Said of a passing case: the device signalled more than was raised.
    @NullEncoded var note: String?
    @NullEncoded var meanRoundTripNanoseconds: UInt64?
    /// Measured by the dispatch loop (every vector together).
    @NullEncoded var stimulusToISR: Figures?
    @NullEncoded var isrDuration: Figures?
    /// Measured by the raising thread: stimulus to ISR plus the way back to it.
    @NullEncoded var raiseToSeen: Figures?
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
