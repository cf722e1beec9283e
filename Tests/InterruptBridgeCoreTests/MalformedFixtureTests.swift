import CInterruptBridge
import Glibc
import InterruptBridgeCore
import InterruptBridgeSystem
import Testing

/// Broken dumps must give a precise error: never a hang, a crash or an exit from libpci.
@Suite struct MalformedFixtureTests {
    static func decodeError(_ name: String) throws -> PCIConfigSpaceError? {
        let snapshots = try PCIAccess.scan(.dump(path: Fixture.path(name)))
        #expect(snapshots.count == 1)
        do {
            _ = try snapshots.map { snapshot throws(PCIConfigSpaceError) in try PCIDeviceInfo(snapshot: snapshot) }
            return nil
        } catch {
            return error
        }
    }

    @Test func truncatedHeader() throws {
        let error = try Self.decodeError("malformed-truncated-header.lspci")
        #expect(error == .truncated(available: 48, needed: 64, reading: "the standard header"))
        #expect(error?.description == "config space truncated: the standard header needs 64 bytes, only 48 available")
    }

    /// 64 bytes is what the kernel shows a reader without root, and what `lspci -x` dumps:
    /// the header decodes, and the capabilities it points to are unknown, not absent.
    @Test func headerOnlyDecodesWithItsCapabilitiesUnreadable() throws {
        let snapshot = try #require(try PCIAccess.scan(.dump(path: Fixture.path("malformed-truncated-capability.lspci"))).first)
        #expect(snapshot.config.count == 64)
        let info = try PCIDeviceInfo(snapshot: snapshot)
        #expect(info.capabilitiesUnreadable)
        #expect(info.msi == nil && info.msix == nil && info.capabilities.isEmpty && info.extendedCapabilities.isEmpty)
        #expect(info.interruptPin == .a && info.irqLine == 11 && info.vendorID == 0x1234)

        // Without a capability list there is nothing unknown.
        var plain = snapshot
        plain.config[0x06] &= ~0x10
        #expect(try PCIDeviceInfo(snapshot: plain).capabilitiesUnreadable == false)
        // Past 64 bytes, a capability beyond the bytes present is a truncated function.
        var damaged = snapshot
        damaged.config += [UInt8](repeating: 0, count: 0x40 - 0x40 + 1)
        #expect(throws: PCIConfigSpaceError.truncated(available: 65, needed: 0x42, reading: "the capability at 0x40")) {
            try PCIDeviceInfo(snapshot: damaged)
        }
    }

    @Test func capabilityListThatLoops() throws {
        let error = try Self.decodeError("malformed-capability-loop.lspci")
        #expect(error == .capabilityLoop(offset: 0x40, from: 0x50))
        #expect(error?.description == "capability list loops: the capability at 0x50 points back to 0x40")
    }

    @Test func capabilityThatPointsToItself() throws {
        #expect(try Self.decodeError("malformed-capability-self-loop.lspci") == .capabilityLoop(offset: 0x40, from: 0x40))
    }

    @Test func capabilityPointerIntoTheHeader() throws {
        let error = try Self.decodeError("malformed-capability-pointer-in-header.lspci")
        #expect(error == .capabilityPointerOutOfRange(pointer: 0x20, from: nil))
        #expect(error?.description == "capability pointer out of range: the Capabilities Pointer register holds 0x20")
    }

    @Test func msiCapabilityRunningPastConfigSpace() throws {
        #expect(try Self.decodeError("malformed-msi-past-end.lspci") == .truncated(available: 256, needed: 0xf8 + 0x0e, reading: "the MSI capability at 0xf8"))
    }

    @Test func dumpSyntaxErrorIsRefusedBeforeLibPCI() throws {
        let path = try Fixture.path("malformed-dump-syntax.lspci")
        #expect(throws: PCIAccessError.malformedDump(PCIDumpFileError(path: path, line: 2, problem: .malformedBytes))) {
            try PCIAccess.scan(.dump(path: path))
        }
    }

    @Test func missingDumpFileIsRefusedBeforeLibPCI() {
        #expect(throws: PCIAccessError.unreadableDump(.system(SystemError("open /nonexistent/irqbridge.lspci", code: ENOENT)))) {
            try PCIAccess.scan(.dump(path: "/nonexistent/irqbridge.lspci"))
        }
    }

    /// libpci's own error path (its error handler turned into a longjmp back to the shim)
    /// cannot be reached through `scan` any more, so it is driven through the shim directly.
    @Test func libpciStaysUsableAfterAnError() throws {
        var message = [CChar](repeating: 0, count: 512)
        let handle = cib_pci_open(try Fixture.path("malformed-dump-syntax.lspci"), &message, message.count)
        #expect(handle == nil)
        #expect(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) == "dump: Malformed line")
        #expect(try PCIAccess.scan(.dump(path: Fixture.path("rig-q35.lspci"))).count == 9)
    }
}
