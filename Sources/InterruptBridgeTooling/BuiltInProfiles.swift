// The profiles of the QEMU rig's devices, written as a user would write them and
// loaded by the same loader (so they are checked the same way).

public enum BuiltInProfiles {
    /// Every built-in profile, loaded. A built-in that fails to load is a bug in this
    /// file, caught by the tests; it traps with the loader's message.
    public static let all: [DeviceProfile] = sources.map { name, text in
        do throws(ProfileError) {
            return try ProfileLoader.load(text, file: "<built-in>/\(name).yaml")
        } catch {
            fatalError("built-in profile \(name): \(error)")
        }
    }

    /// The YAML of each built-in profile, by name (`irqbridge profile show NAME` prints it).
    public static let sources: [(name: String, text: String)] = [
        ("edu", edu), ("ivshmem-doorbell", ivshmemDoorbell), ("e1000e", e1000e), ("nvme", nvme), ("pci-serial", pciSerial),
    ]

    /// QEMU's edu: BAR0 is 1 MiB of registers; INTx pin A and one MSI message.
    static let edu = """
        name: edu
        description: QEMU's educational device (INTx and one MSI, raised through BAR 0)
        match: {vendor: 0x1234, device: 0x11e8}
        stimulus:
          interrupts: [intx, msi]
          vectors: 1
          raise:
            - write: {bar: 0, offset: 0x60, width: 32}   # raise: ORs the value into 0x24
              value: 1
        acknowledge:
          - read: {bar: 0, offset: 0x24, width: 32}    # interrupt status
            into: status
          - if_zero: status
            return: unclaimed
          - write: {bar: 0, offset: 0x64, width: 32}   # acknowledge: clears those bits
            value: status
          - return: claimed
        quiesce:
          - read: {bar: 0, offset: 0x24, width: 32}
            into: status
          - write: {bar: 0, offset: 0x64, width: 32}
            value: status
        """

    /// ivshmem-doorbell: ringing our own doorbell (BAR0 0x0c = IVPosition << 16 |
    /// vector) raises MSI-X vector `vector`; edge-triggered, nothing to acknowledge.
    static let ivshmemDoorbell = """
        name: ivshmem-doorbell
        description: QEMU's ivshmem-doorbell (MSI-X vectors raised by ringing its own doorbell)
        match: {vendor: 0x1af4, device: 0x1110}
        stimulus:
          interrupts: [msix]
          raise:
            - read: {bar: 0, offset: 0x08, width: 32}    # IVPosition: our peer id
              into: ivposition
            - write: {bar: 0, offset: 0x0c, width: 32}   # Doorbell: peer << 16 | vector
              value: ivposition << 16 | vector
        acknowledge:
          - return: claimed
        """

    /// e1000e (82574L). Under MSI-X, QEMU's hw/net/e1000e_core.c signals a vector per
    /// cause: e1000e_msix_notify maps ICR.RxQ0 (bit 20), RxQ1 (21), TxQ0 (22), TxQ1 (23)
    /// and Other (24) through IVAR's 4-bit fields at bits 0, 4, 8, 12, 16 (low 3 bits
    /// the vector, bit 3 valid). IVAR 0x000CBA98 maps them to vectors 0 to 4, so
    /// writing ICS (0xC8) with bit 20 + N raises vector N, once per cause (the device
    /// does not resend a cause still pending in ICR & IMS). Under MSI-X with IMS != 0,
    /// reading ICR does not clear it; writing 1s to ICR (0xC0) does (and clearing
    /// Other clears the other causes: LSC, RXO, MDAC, ...). EIAC stays 0 (its reset
    /// value), so the device neither auto-clears ICR nor auto-masks IMS.
    static let e1000e = """
        name: e1000e
        description: Intel 82574L as QEMU's e1000e (five MSI-X vectors raised by the device through its interrupt cause registers)
        match: {vendor: 0x8086, device: 0x10d3}
        stimulus:
          interrupts: [msix]
          vectors: 5
          setup:
            - write: {bar: 0, offset: 0xd8, width: 32}   # IMC: mask every cause
              value: 0xffffffff
            - write: {bar: 0, offset: 0xc0, width: 32}   # ICR: clear what is pending (write 1s)
              value: 0xffffffff
            - write: {bar: 0, offset: 0xe4, width: 32}   # IVAR: RxQ0->0 RxQ1->1 TxQ0->2 TxQ1->3 Other->4
              value: 0x000cba98
            - write: {bar: 0, offset: 0xd0, width: 32}   # IMS: enable those five causes
              value: 0x01f00000
          raise:
            - write: {bar: 0, offset: 0xc8, width: 32}   # ICS: set the cause IVAR maps to `vector`
              value: 1 << (20 + vector)
        acknowledge:
          - read: {bar: 0, offset: 0xc0, width: 32}      # ICR (not cleared by reading under MSI-X)
            into: icr
          - let: cause
            value: 1 << (20 + vector)
          - if_zero: icr & cause
            return: unclaimed
          - write: {bar: 0, offset: 0xc0, width: 32}     # write 1 to clear this vector's cause
            value: cause
          - return: claimed
        """

    /// NVM Express (class 01:08:02, QEMU's nvme and real controllers): nothing raises an
    /// interrupt without I/O queues, so the stimulus is VFIO's loopback trigger (any
    /// kind). No acknowledge program: message-signaled interrupts are claimed as they come.
    static let nvme = """
        name: nvme
        description: NVM Express controllers (no register stimulus; VFIO's loopback trigger)
        match: {class: 0x010802}
        stimulus:
          loopback: true
        """

    /// QEMU's pci-serial (1b36:0002): a 16550A UART in 8 I/O ports at BAR 0, INTx only, so
    /// every access is an in/out through VFIO's region or sysfs `resourceN`. Turning IER's
    /// THR-empty enable on while the transmitter is empty raises its interrupt (hw/char/
    /// serial.c re-samples THRE on that edge, as Windows' driver relies on); reading IIR
    /// clears it. IIR bit 0 set means nothing is pending: another card's, on a shared line.
    static let pciSerial = """
        name: pci-serial
        description: QEMU's pci-serial (a 16550A UART in I/O ports at BAR 0; its transmitter-empty interrupt on INTx)
        match: {vendor: 0x1b36, device: 0x0002}
        stimulus:
          interrupts: [intx]
          setup:
            - write: {bar: 0, offset: 3, width: 8}   # LCR: 8 data bits, divisor latch off
              value: 0x03
          raise:                                      # IER off, then THR-empty on: THRE raised
            - write: {bar: 0, offset: 1, width: 8}
              value: 0
            - write: {bar: 0, offset: 1, width: 8}
              value: 0x02
        acknowledge:
          - read: {bar: 0, offset: 2, width: 8}      # IIR: reading it clears THRE
            into: iir
          - if_nonzero: iir & 1                      # bit 0 set: nothing pending here
            return: unclaimed
          - return: claimed
        quiesce:
          - write: {bar: 0, offset: 1, width: 8}     # IER off: no source left enabled
            value: 0
          - read: {bar: 0, offset: 2, width: 8}
            into: iir
        """
}
