/// Turns a discovered PCI function into the raw and translated CM resource
/// lists a Windows driver receives in IRP_MN_START_DEVICE.
///
/// ## How Level, Vector and Affinity are derived on Linux
///
/// Linux exposes neither IDT vectors nor IRQLs to user space, so the bridge
/// plays the part of the HAL and assigns them by fixed, documented rules:
///
/// * **Vector.** A line-based interrupt's vector is the Linux IRQ number the
///   INTx pin is routed to (the number `lspci` prints and `/proc/interrupts`
///   counts), in both lists. A message-signaled interrupt's translated vector
///   is a bridge-assigned number that names the function and the message:
///   `0x1000_0000 | bus << 19 | devfn << 11 | message` (`messageVector(...)`).
///   MSI messages are consecutive from the first message's vector. The raw
///   vector of a message is its message number (0 for the MSI block's first).
/// * **Level (DIRQL).** From the policy's DevicePriority: line-based 5
///   (low 4, high 7); message-signaled 8 (low 7, high 10), so message interrupts
///   are served before legacy lines, as on Windows x64 where MSIs get higher
///   IDT vectors. Always within 3...12, the x64 DIRQL range. Raw line
///   descriptors carry the IRQ number as Level, as Windows' raw lists do
///   (Level is a USHORT: an IRQ above 65535 shows as 65535 there, and whole in Vector).
/// * **Affinity.** The policy's override if set, else for a line the IRQ's
///   `/proc/irq/N/smp_affinity` when known, else every online processor.
///   Group is always 0.
public struct ResourceTranslator: Sendable {
    /// Facts about the running system the translation needs.
    public struct SystemFacts: Sendable, Hashable {
        /// Processors online (bit N = CPU N).
        public var onlineProcessors: ProcessorAffinity
        /// Affinity of known Linux IRQs (from /proc/irq/N/smp_affinity).
        public var irqAffinity: [UInt32: ProcessorAffinity]
        public init(onlineProcessors: ProcessorAffinity, irqAffinity: [UInt32: ProcessorAffinity] = [:]) {
            self.onlineProcessors = onlineProcessors
            self.irqAffinity = irqAffinity
        }
    }

    public var facts: SystemFacts
    public init(facts: SystemFacts) { self.facts = facts }

    /// The bridge-assigned translated vector of message `message` of the function at `address`.
    public static func messageVector(_ address: PCIAddress, message: Int) -> UInt32 {
        0x1000_0000 | UInt32(address.bus) << 19 | UInt32(address.devfn) << 11 | UInt32(message & 0x7ff)
    }

    /// Which interrupt kind the policy gives the device, and how many messages. Nil when it
    /// gets none, and when that is not known (`DiscoveredDevice.isAssignmentKnown`): the policy
    /// allows messages but the device's capabilities were unreadable.
    public func interruptAssignment(for device: PCIDeviceInfo, policy: InterruptPolicy) -> (kind: InterruptKind, count: Int)? {
        let limit = max(1, policy.messageNumberLimit ?? Int.max)
        // Without its capabilities, whether MSI or MSI-X would be chosen is not known.
        if policy.msiSupported, device.capabilitiesUnreadable { return nil }
        if policy.msiSupported {
            let msix = device.msix.map { (InterruptKind.msix, min($0.tableSize, Self.maximumMSIXMessages, limit)) }
            let msi = device.msi.map { (InterruptKind.msi, Self.largestPowerOfTwo(atMost: min($0.messagesCapable, limit))) }
            let ordered = policy.preferMSIX ? [msix, msi] : [msi, msix]
            if let choice = ordered.compactMap({ $0 }).first { return choice }
        }
        if device.interruptPin != nil, let line = device.irqLine, Self.isRoutedLine(line), !device.irqLineIsMSI { return (.intx, 1) }
        return nil
    }

    /// The raw and translated lists: BARs first (in BAR order), then interrupts.
    public func resources(for device: PCIDeviceInfo, policy: InterruptPolicy = .default) -> ResourceAssignment {
        var raw: [ResourceDescriptor] = []
        var translated: [ResourceDescriptor] = []
        for bar in device.bars where bar.size > 0 {
            let descriptor = Self.descriptor(for: bar)
            raw.append(descriptor)
            translated.append(descriptor)
        }
        let assignment = interruptAssignment(for: device, policy: policy)
        switch assignment {
        case nil:
            break
        case (.intx, _)?:
            let line = device.irqLine ?? 0
            let affinity = overridden(policy) ?? facts.irqAffinity[line] ?? facts.onlineProcessors
            let level = Self.deviceLevel(for: .intx, priority: policy.devicePriority)
            raw.append(.init(type: .interrupt, shareDisposition: .shared, flags: InterruptFlags.levelSensitive,
                             payload: .interrupt(.init(level: UInt16(clamping: line), vector: line, affinity: affinity))))
            translated.append(.init(type: .interrupt, shareDisposition: .shared, flags: InterruptFlags.levelSensitive,
                                    payload: .interrupt(.init(level: UInt16(level.rawValue), vector: line, affinity: affinity))))
        case let (kind, count)?:
            let affinity = overridden(policy) ?? facts.onlineProcessors
            let level = UInt16(Self.deviceLevel(for: kind, priority: policy.devicePriority).rawValue)
            // MSI: one descriptor for the whole block; MSI-X: one per message (as the PnP manager does).
            let blocks: [(first: Int, count: Int)] = kind == .msi ? [(0, count)] : (0..<count).map { ($0, 1) }
            for block in blocks {
                let message = ResourceDescriptor.MessageInterrupt(
                    raw: .init(messageCount: UInt16(block.count), vector: UInt32(block.first), affinity: affinity),
                    translated: .init(level: level, vector: Self.messageVector(device.address, message: block.first), affinity: affinity))
                let descriptor = ResourceDescriptor(type: .interrupt, shareDisposition: .deviceExclusive,
                                                    flags: InterruptFlags.latched | InterruptFlags.message,
                                                    payload: .messageInterrupt(message))
                raw.append(descriptor)
                translated.append(descriptor)
            }
        }
        return ResourceAssignment(interruptKind: assignment?.kind, raw: raw, translated: translated)
    }

    /// The policy's AssignmentSetOverride on the online processors: an override that
    /// names none of them is left out (nil), as an affinity of processors that are
    /// not there could not take an interrupt and a fully specified connect refuses it.
    private func overridden(_ policy: InterruptPolicy) -> ProcessorAffinity? {
        guard let override = policy.affinityOverride else { return nil }
        let online = override.intersection(facts.onlineProcessors)
        return online.isEmpty ? nil : online
    }

    /// DIRQL for an interrupt kind and device priority (see the type's documentation).
    public static func deviceLevel(for kind: InterruptKind, priority: InterruptPolicy.DevicePriority) -> InterruptLevel {
        let base: UInt8 = kind == .intx ? 5 : 8
        switch priority {
        case .low: return InterruptLevel(base - 1)
        case .normal: return InterruptLevel(base)
        case .high: return InterruptLevel(base + 2)
        }
    }

    /// MSI-X's largest table (an 11-bit Table Size field): a function said to have more (only
    /// a hand-built or simulated one can) gets this many, so that `messageVector`, which
    /// keeps 11 bits of the message number, names each message once.
    public static let maximumMSIXMessages = 2048

    /// Linux reports 0 (x86: never a device line) or 255 ("unknown") for unrouted pins.
    public static func isRoutedLine(_ line: UInt32) -> Bool { line != 0 && line != 255 }

    static func largestPowerOfTwo(atMost value: Int) -> Int {
        var power = 1
        while power * 2 <= min(value, 32) { power *= 2 }
        return power
    }

    /// The CM_RESOURCE_MEMORY_LARGE_* of a window longer than 4 GiB: the coarsest unit
    /// (Length64 counts 4 GiB, Length48 64 KiB, Length40 256 bytes) that states `length`
    /// exactly, so RtlCmDecodeMemIoResource gives it back whole. A PCI BAR is a power of
    /// two, always LARGE_64; a length no unit fits within 32 bits of count is rounded up.
    static func largeMemoryFlag(length: UInt64) -> UInt16 {
        // Judged on the length rounded up to the unit below, which is what that unit would state.
        if length & 0xffff_ffff == 0 || (length &+ 0xffff) >> 48 != 0 { return MemoryFlags.large64 }
        if length & 0xffff == 0 || (length &+ 0xff) >> 40 != 0 { return MemoryFlags.large48 }
        return MemoryFlags.large40
    }

    static func descriptor(for bar: PCIBar) -> ResourceDescriptor {
        switch bar.space {
        case .io:
            return .init(type: .port, shareDisposition: .deviceExclusive, flags: PortFlags.io | PortFlags.positiveDecode | PortFlags.bar,
                         payload: .port(start: bar.address, length: UInt32(truncatingIfNeeded: bar.size)))
        case .memory:
            var flags = MemoryFlags.readWrite | MemoryFlags.bar
            if bar.prefetchable { flags |= MemoryFlags.prefetchable }
            let large = bar.size > UInt64(UInt32.max)
            if large { flags |= largeMemoryFlag(length: bar.size) }
            return .init(type: large ? .memoryLarge : .memory, shareDisposition: .deviceExclusive, flags: flags,
                         payload: .memory(start: bar.address, length: bar.size))
        }
    }
}
