// Issue 8: IoReportInterruptInactive / IoReportInterruptActive on edu's real MSI
// (unwatched meanwhile, its eventfd left attached: edu's MSI has no per-vector mask) and
// on its real INTx line (a level line raised while inactive fires once reported active).
import InterruptBridge
import InterruptBridgeTestKit
import InterruptBridgeCore
import InterruptBridgeWDK
import Testing

extension RigIntegrationTests {
    @Suite("IoReportInterruptInactive/Active on real devices")
    struct ActiveStateIntegrationTests {
        typealias WDK = WDKIntegrationTests

        /// Connects edu message-based (MSI, or its INTx line by the fall-back when the
        /// policy disallows MSI) and returns the report parameters naming the connection.
        static func connect(_ driver: WDK.Driver) throws -> IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS {
            let devExt = driver.devExt
            var params = IO_CONNECT_INTERRUPT_PARAMETERS()
            params.Version = CONNECT_MESSAGE_BASED
            params.MessageBased.PhysicalDeviceObject = driver.PhysicalDeviceObject
            params.MessageBased.ConnectionContext.Generic = devExt.pointer(to: \.ConnectionContext)
            params.MessageBased.MessageServiceRoutine = WDK.messageService
            params.MessageBased.ServiceContext = devExt
            params.MessageBased.FallBackServiceRoutine = WDK.interruptService
            let status = IoConnectInterruptEx(&params)
            try #require(NT_SUCCESS(status), "\(status)")
            var report = IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS()
            report.Version = params.Version
            report.ConnectionContext.Generic = devExt.ConnectionContext
            if let interrupt = report.ConnectionContext.InterruptObject { devExt.IntObj = interrupt }
            return report
        }

        static func disconnect(_ report: IO_REPORT_INTERRUPT_ACTIVE_STATE_PARAMETERS, _ driver: WDK.Driver) {
            var disconnect = IO_DISCONNECT_INTERRUPT_PARAMETERS()
            disconnect.Version = report.Version
            disconnect.ConnectionContext.Generic = report.ConnectionContext.Generic
            IoDisconnectInterruptEx(&disconnect)
            #expect(driver.dispatcher.connectedInterrupts.isEmpty)
        }

        @Test func aLevelLineRaisedWhileInactiveFiresOnceActive() throws {
            let driver = try WDK.Driver(policy: InterruptPolicy(msiSupported: false))
            defer { driver.close() }
            var report = try Self.connect(driver)
            #expect(report.Version == CONNECT_LINE_BASED)
            let probe = driver.devExt.probe
            let unmasksBefore = driver.backend.unmaskCount
            IoReportInterruptInactive(&report)
            driver.devExt.edu.interrupt()
            #expect(!eventually(within: 0.5) { probe.count > 0 }, "inactive: the ISR is not called")
            #expect(driver.backend.unmaskCount == unmasksBefore, "the line stays masked while inactive")
            IoReportInterruptActive(&report)
            #expect(eventually { probe.count == 1 }, "the line raised while inactive fires once reported active")
            #expect(eventually { driver.backend.unmaskCount > unmasksBefore }, "and is unmasked after its ISR")
            #expect(!eventually(within: 0.2) { probe.count > 1 }, "once")
            // Active again: every interrupt arrives, the cycle repeated.
            for round in 0..<3 {
                IoReportInterruptInactive(&report)
                let before = probe.count
                driver.devExt.edu.interrupt()
                #expect(!eventually(within: 0.2) { probe.count > before }, "round \(round): not called while inactive")
                IoReportInterruptActive(&report)
                #expect(eventually { probe.count == before + 1 }, "round \(round): fires once active")
            }
            let before = probe.count
            #expect(driver.fire() - before == Rig.count)
            Self.disconnect(report, driver)
        }

        @Test func anUnmaskableMSIVectorIsUnwatchedWhileInactiveAndDeliversOnceActive() throws {
            let driver = try WDK.Driver(policy: .default)
            defer { driver.close() }
            var report = try Self.connect(driver)
            #expect(report.Version == CONNECT_MESSAGE_BASED)
            let probe = driver.devExt.probe
            #expect(driver.fire() == Rig.count)
            let kernelActive = try Rig.kernelCount("vfio-msi[", Rig.eduVFIO)
            #expect(kernelActive >= UInt64(Rig.count))
            IoReportInterruptInactive(&report)
            // Detached, the kernel would free the vector's handler and write a zero message into
            // edu's capability, which has no per-vector mask: its next MSI would be a DMA write to 0.
            #expect(try Rig.kernelCount("vfio-msi[", Rig.eduVFIO) >= kernelActive,
                    "inactive: the kernel's handler stays (the eventfd is unwatched, not detached)")
            let before = probe.count
            driver.devExt.edu.interrupt()
            #expect(!eventually(within: 0.5) { probe.count > before }, "inactive: the ISR is not called")
            IoReportInterruptActive(&report)
            #expect(eventually { probe.count == before + 1 }, "the MSI edu sent while inactive arrives once reported active")
            let afterActive = probe.count
            #expect(driver.fire() - afterActive == Rig.count, "active again: every MSI arrives")
            Self.disconnect(report, driver)
        }
    }
}
