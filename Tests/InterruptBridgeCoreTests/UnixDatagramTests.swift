import Foundation
import Glibc
import InterruptBridgeSystem
import Testing

/// The trigger relay's sockets: a requester's socket connected to the holder's takes
/// the holder's answer and nobody else's, so no other local user can answer for it.
@Suite(.timeLimit(.minutes(1)))
struct UnixDatagramTests {
    @Test func aConnectedSocketTakesAnswersFromItsPeerOnly() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-\(getpid())-holder.sock").path
        let holder = try UnixDatagram.bind(path)
        defer { unlink(path); holder.close() }
        let requester = try UnixDatagram.bind("@irqbridge-test-requester-\(getpid())")
        defer { requester.close() }
        try UnixDatagram.connect(requester.rawValue, to: path)
        try UnixDatagram.send(Array("raise -1 1 0".utf8), from: requester.rawValue, to: path)

        // A third socket cannot put an answer on the requester's socket.
        let forger = try UnixDatagram.bind("@irqbridge-test-forger-\(getpid())")
        defer { forger.close() }
        #expect(throws: SystemError.self) {
            try UnixDatagram.send(Array("done 1".utf8), from: forger.rawValue, to: "@irqbridge-test-requester-\(getpid())")
        }
        // The holder answers the sender it received from.
        let (bytes, sender) = try #require(try UnixDatagram.receiveWithSender(holder.rawValue))
        #expect(bytes == Array("raise -1 1 0".utf8) && sender.canBeAnswered)
        try UnixDatagram.reply(Array("done 1".utf8), from: holder.rawValue, to: sender)
        #expect(try UnixDatagram.receive(requester.rawValue) == Array("done 1".utf8))
        #expect(try UnixDatagram.receive(requester.rawValue) == nil)
    }

    /// How a requester tells a holder that ended (its socket file removed, or left
    /// behind by a kill) from one still raising.
    @Test func aSocketLeftByAClosedHolderIsNotListening() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-\(getpid())-listening.sock").path
        defer { unlink(path) }
        let holder = try UnixDatagram.bind(path)
        #expect(UnixDatagram.isListening(path))
        holder.close()
        #expect(FileManager.default.fileExists(atPath: path), "the file stays, as after a kill")
        // A process another test spawns holds a copy of every descriptor until its exec
        // (the socket's too, O_CLOEXEC or not): give such a copy a moment to go. Seen once.
        var listening = true
        for _ in 0..<200 where listening {
            listening = UnixDatagram.isListening(path)
            if listening { usleep(5_000) }
        }
        #expect(!listening)
        unlink(path)
        #expect(!UnixDatagram.isListening(path))
    }

    @Test func connectingToNobodyIsRefused() throws {
        let requester = try UnixDatagram.bind("@irqbridge-test-lonely-\(getpid())")
        defer { requester.close() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("irqbridge-\(getpid())-nobody.sock").path
        #expect(throws: SystemError.self) { try UnixDatagram.connect(requester.rawValue, to: path) }
        do { try UnixDatagram.connect(requester.rawValue, to: path) } catch { #expect(error.code == ENOENT) }
    }
}
