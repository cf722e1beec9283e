// The trigger socket: how `irqbridge trigger` asks the process holding a device
// (`wait`, `watch`) to raise its interrupts, and hears how it went. A VFIO device has
// one user and its mapped BARs cannot be mapped again, so the holder raises them.
//
// The request is one datagram, "raise VECTOR COUNT RATE", sent from a socket of the
// requester's own (an abstract address, connected to the holder's socket so that only
// the holder can answer on it), and the holder answers it with one datagram:
// "done RAISED STIMULUS" (how it raised them, as `trigger` names its own), "refused
// MESSAGE" (bad input: exit 2) or "failed MESSAGE" (exit 1). A bare "done RAISED", from
// a holder of an earlier version, is still understood; a requester of an earlier version
// does not understand the stimulus (both ends are one irqbridge binary in practice).
import Foundation
import InterruptBridge
import InterruptBridgeCore
import InterruptBridgeSystem
import InterruptBridgeTooling
import Glibc

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
              vector >= -1, (1...1_000_000).contains(count), rate == 0 || Raising.rates.contains(rate) else { return nil }
        self.vector = vector < 0 ? nil : vector
        self.count = count
        self.rate = rate == 0 ? nil : rate
    }

    /// How long the requester waits for the answer at most: the raising itself (at
    /// --rate; without one, each raise waits up to one second for its interrupt to be
    /// claimed, `Raising.run`), with room to spare. The requester stops sooner when the
    /// holder ends (`UnixDatagram.isListening`, checked each second); this bounds only a
    /// holder that hangs.
    var answerWithin: Duration {
        let seconds = rate.map { Double(count) / $0 * 2 } ?? Double(count) * 1.0
        return .seconds(30) + .milliseconds(Int64(min(seconds, 86_400) * 1000))
    }
}

/// The holder's answer to one request.
enum TriggerAnswer: Equatable {
    case done(raised: Int, stimulus: String?)
    case refused(String)
    case failed(String)

    var encoded: [UInt8] {
        switch self {
        case .done(let raised, let stimulus): Array("done \(raised)\(stimulus.map { " \($0)" } ?? "")".utf8.prefix(500))
        case .refused(let message): Array("refused \(message)".utf8.prefix(500))
        case .failed(let message): Array("failed \(message)".utf8.prefix(500))
        }
    }

    init?(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let space = text.firstIndex(of: " ") else { return nil }
        let rest = String(text[text.index(after: space)...])
        switch text[..<space] {
        case "done":
            let words = rest.split(separator: " ", maxSplits: 1)
            guard let first = words.first, let raised = Int(first) else { return nil }
            self = .done(raised: raised, stimulus: words.count == 2 ? String(words[1]) : nil)
        case "refused": self = .refused(rest)
        case "failed": self = .failed(rest)
        default: return nil
        }
    }
}

enum TriggerRelay {
    /// Requester: sends `request` to the process holding `address` and waits for its
    /// answer. Returns nil when no process holds the device (nobody listens), else how
    /// many interrupts it raised and through what; a refusal is bad input, anything else
    /// a failure.
    static func ask(_ request: TriggerRequest, holding address: PCIAddress) throws(CommandFailure) -> Relayed? {
        let path = DeviceSession.triggerSocket(address)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let own: OwnedDescriptor
        do { own = try UnixDatagram.bind("@irqbridge-trigger-\(getpid())-\(UInt32.random(in: 0...UInt32.max))") } catch {
            throw .failed("a socket for the answer from the holder of \(address): \(error)")
        }
        defer { own.close() }
        do {
            // Connected, the socket takes datagrams from the holder's socket only: another
            // local user cannot answer for the holder (the kernel refuses it EPERM).
            try UnixDatagram.connect(own.rawValue, to: path)
            try UnixDatagram.send(request.encoded, from: own.rawValue, to: path)
        } catch {
            if error.code == ENOENT || error.code == ECONNREFUSED { return nil }  // a stale socket file: nobody holds it
            throw .failed("asking the holder of \(address) through \(path): \(error)")
        }
        let deadline = ContinuousClock.now + request.answerWithin
        while ContinuousClock.now < deadline {
            let ready: Bool
            do { ready = try FileIO.waitReadable(own.rawValue, timeoutMilliseconds: 1000) } catch {
                throw .failed("waiting for the holder of \(address): \(error)")
            }
            guard ready else {
                // The holder ended (its socket is removed as it ends, or left behind by a kill):
                // its answer may have come just before.
                if !UnixDatagram.isListening(path) {
                    if let bytes = try? UnixDatagram.receive(own.rawValue) { return try outcome(bytes, from: address) }
                    throw .failed("the process holding \(address) ended before it answered")
                }
                continue
            }
            guard let bytes = try? UnixDatagram.receive(own.rawValue) else { continue }
            return try outcome(bytes, from: address)
        }
        throw .failed("the process holding \(address) did not answer within \(request.answerWithin)")
    }

    /// What the holder did for a request it carried out.
    struct Relayed: Equatable {
        var raised: Int
        /// How it raised them (nil from a holder that does not say).
        var stimulus: String?
    }

    /// What the holder's answer means for the requester: how many it raised, or its refusal
    /// (bad input) or failure.
    private static func outcome(_ bytes: [UInt8], from address: PCIAddress) throws(CommandFailure) -> Relayed {
        switch TriggerAnswer(bytes) {
        case .done(let raised, let stimulus): return Relayed(raised: raised, stimulus: stimulus)
        case .refused(let message): throw .badInput(message)
        case .failed(let message): throw .failed(message)
        case nil: throw .failed("the process holding \(address) answered something unreadable")
        }
    }

    /// Holder: takes one waiting request, if any, raises what it asks through the
    /// session's stimulus and answers it (or, for a sender that cannot be answered,
    /// reports a refusal or failure on standard error). The raising stops early, and
    /// is answered as a failure, when the device's vectors disconnect or `holderEnding`
    /// says the holder is about to end (its timeout, a signal); it stops, unanswered,
    /// when the requester is gone (interrupted or killed: its socket closed).
    /// `meanwhile` runs between raises (at least every 50 ms at a --rate): the
    /// holder's own periodic work (`watch` prints its interval lines there).
    /// Returns how many interrupts it raised (0: none, or no request was waiting) and whether
    /// at a --rate (raises paced by the clock, not by the ISR, may fold).
    @discardableResult
    static func serve(_ socket: OwnedDescriptor, session: DeviceSession, connected: ConnectedInterrupts,
                      holderEnding: () -> Bool, meanwhile: () -> Void = {}) -> (raised: Int, paced: Bool) {
        guard let (bytes, sender) = try? UnixDatagram.receiveWithSender(socket.rawValue) else { return (0, false) }
        let address = session.info.address
        // Whether the requester is still there, asked at most every 100 ms (a socket and a
        // connect each time), so a raise at full speed pays for it once in many.
        var requesterChecked = ContinuousClock.now
        var requesterLeft = false
        let requesterGone = { () -> Bool in
            guard !requesterLeft, sender.canBeAnswered, ContinuousClock.now - requesterChecked >= .milliseconds(100) else { return requesterLeft }
            requesterChecked = ContinuousClock.now
            requesterLeft = !UnixDatagram.isListening(sender)
            return requesterLeft
        }
        let answer: TriggerAnswer
        let request = TriggerRequest(bytes)
        if let request {
            answer = raise(request, session: session, connected: connected,
                           holderEnding: { meanwhile(); return holderEnding() || requesterGone() }, requesterLeft: { requesterLeft })
        } else {
            answer = .refused("\(address): a malformed trigger request")
        }
        let raised = if case .done(let raised, _) = answer { raised } else { 0 }
        let served = (raised: raised, paced: request?.rate != nil)
        if requesterLeft {
            if case .failed(let message) = answer { printError("irqbridge: a trigger request stopped: \(message)") }
            return served
        }
        guard sender.canBeAnswered else {
            if case .refused(let message) = answer { printError("irqbridge: a trigger request was refused: \(message)") }
            if case .failed(let message) = answer { printError("irqbridge: a trigger request failed: \(message)") }
            return served
        }
        do { try UnixDatagram.reply(answer.encoded, from: socket.rawValue, to: sender) } catch {
            printError("irqbridge: could not answer a trigger request for \(address): \(error)")
        }
        return served
    }

    private static func raise(_ request: TriggerRequest, session: DeviceSession, connected: ConnectedInterrupts,
                              holderEnding: () -> Bool, requesterLeft: () -> Bool) -> TriggerAnswer {
        let address = session.info.address
        guard let stimulus = session.stimulus else {
            return .refused("\(address) is under uio_pci_generic, which has no loopback trigger, and no profile raises its interrupts: "
                            + "start the wait or watch with a profile that does (--profile FILE)")
        }
        if let vector = request.vector, let refusal = connected.vectorRefusal(vector, of: address) { return .refused(refusal) }
        let removed = "the device was removed or unbound"
        func cutShort(_ why: String, _ raised: Int) -> TriggerAnswer {
            .failed("\(address): \(why) after \(raised) of \(request.count) interrupt(s) were raised")
        }
        do {
            let raised = try Raising.run(vector: request.vector, count: request.count, rate: request.rate, stimulus: stimulus,
                                         objects: connected.objects, unmaskCount: session.unmaskCount,
                                         shouldStop: { connected.wereDisconnected || holderEnding() })
            guard raised == request.count else {
                return cutShort(connected.wereDisconnected ? removed : requesterLeft() ? "the trigger that asked was interrupted"
                                : "the process holding it is ending", raised)
            }
            return .done(raised: raised, stimulus: stimulus.name)
        } catch let contained as RaisingContained {
            return .failed("\(address): \(contained) (--rate raises into it anyway)")
        } catch let failure as RaisingFailure where Raising.failedForRemoval({ connected.wereDisconnected }) {
            return cutShort(removed, failure.raised)
        } catch {
            return .failed("\(address): raising failed: \(error)")
        }
    }
}
