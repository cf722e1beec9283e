import InterruptBridgeCore
import InterruptBridgeTooling
import Testing

/// When an INTx vector's ISR ran far more often than the kernel took interrupts on its
/// line, the acknowledge did not quiet the device (VFIO re-signals at each unmask).
@Suite struct UnquietedLineNoteTests {
    @Test func aLineReSignalledAtEachUnmaskIsNamed() throws {
        let note = try #require(KernelInterruptCounts.unquietedLineNote(calls: 5013, kernel: 1))
        #expect(note.hasPrefix("the ISR ran 5012 time(s) more than the kernel took interrupts on the line"))
        // A `wait --count 1` on an rtl8139 whose acknowledge claims without clearing the cause.
        #expect(KernelInterruptCounts.unquietedLineNote(calls: 31, kernel: 1)?.hasPrefix("the ISR ran 30 time(s) more") == true)
    }

    @Test(arguments: [
        (UInt64(50), UInt64?(50), UInt64(0)),   // every call was an interrupt
        (150, 100, 0),                           // a device that signals some raises twice (e1000e)
        (1000, 100, 0),                          // a busy device raising again before some unmasks
        (19, 0, 0),                              // too few to say
        (40, 5, 0),                              // a few re-signals for each interrupt: a busy device
        (5000, 0, 5000),                         // raised through VFIO's loopback: the kernel never sees those
        (5000, nil, 0),                          // no kernel count to compare with
        (5000, UInt64.max / 5, 0),               // a huge kernel count: no overflow trap
        (UInt64.max, UInt64.max - 10, UInt64(20)),  // nor with raises that wrap the sum
    ] as [(UInt64, UInt64?, UInt64)])
    func agreeingCountsSayNothing(calls: UInt64, kernel: UInt64?, raised: UInt64) {
        #expect(KernelInterruptCounts.unquietedLineNote(calls: calls, kernel: kernel, raised: raised) == nil)
    }

    /// /proc/interrupts counts a line, not a handler: on a shared line the kernel's count is
    /// every device's, so it is not compared with one device's ISR (a false "lost").
    @Test func aSharedLinesCountIsNotTheDevicesOwn() throws {
        let lines = ProcInterruptsLine.parse("""
                       CPU0       CPU1
             21:        392          0  IR-IO-APIC  21-fasteoi   vfio-intx(0000:00:0d.0), uhci_hcd:usb1
             22:        100          0  IR-IO-APIC  22-fasteoi   vfio-intx(0000:00:0e.0)
             23:       2000          5  IR-IO-APIC  23-fasteoi   uio_pci_generic, uio_pci_generic
             24:         50          0  IR-IO-APIC  24-fasteoi   uio_pci_generic
            """)
        let shared = try #require(KernelInterruptCounts.sharedLineNote(address: PCIAddress("0000:00:0d.0")!, uioIRQ: nil, in: lines))
        #expect(shared == "IRQ 21 is shared (vfio-intx(0000:00:0d.0), uhci_hcd:usb1): the kernel counts every device's interrupts on it")
        #expect(KernelInterruptCounts.sharedLineNote(address: PCIAddress("0000:00:0e.0")!, uioIRQ: nil, in: lines) == nil)
        #expect(KernelInterruptCounts.sharedLineNote(address: PCIAddress("0000:00:03.0")!, uioIRQ: 23, in: lines)?.hasPrefix("IRQ 23 is shared") == true)
        #expect(KernelInterruptCounts.sharedLineNote(address: PCIAddress("0000:00:04.0")!, uioIRQ: 24, in: lines) == nil)
    }
}

/// An ISR that declines nearly every call: the acknowledge tests the wrong register or bit.
@Suite struct UnclaimedCallsNoteTests {
    @Test func nearlyEveryCallUnclaimedIsNamed() throws {
        #expect(UnclaimedCallsNote.note(calls: 31_606, unclaimed: 31_606)
                == "31606 of 31606 call(s) unclaimed: the acknowledge program claims none of the device's interrupts "
                + "(does it test the device's interrupt status register and bit?)")
        #expect(UnclaimedCallsNote.note(calls: 1000, unclaimed: 990) != nil)
    }

    @Test(arguments: [(UInt64(19), UInt64(19)), (1000, 989), (1000, 0), (0, 0)])
    func otherwiseNothing(calls: UInt64, unclaimed: UInt64) {
        #expect(UnclaimedCallsNote.note(calls: calls, unclaimed: unclaimed) == nil)
    }
}
