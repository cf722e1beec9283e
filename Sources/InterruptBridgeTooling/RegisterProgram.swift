// The compiled form of a profile's register programs (acknowledge, raise, set-up,
// quiesce): a flat array of fixed-size instructions over a few value slots, run by an
// ISR without allocating, locking or logging.

/// One instruction. Fixed size, no references: a program is a `ContiguousArray` of
/// these, so running it touches one buffer and never retains anything per step.
public struct RegisterInstruction: Sendable, Hashable {
    public enum Operation: UInt8, Sendable, Hashable {
        /// slot[a] = read(bar, offset, width)
        case read
        /// write(bar, offset, width, slot[b])
        case write
        /// write(bar, offset, width, read(...) & ~slot[b] | slot[c])
        case modify
        /// slot[a] = immediate
        case constant
        /// slot[a] = slot[b] <op> slot[c]
        case and, or, xor, add, subtract, shiftLeft, shiftRight
        /// slot[a] = ~slot[b]
        case not
        /// if slot[b] == 0 (or != 0): end, claimed when immediate != 0
        case returnIfZero, returnIfNonZero
        /// end, claimed when immediate != 0
        case `return`
    }

    public var operation: Operation
    public var width: RegisterWidth
    public var bar: UInt8
    public var a: UInt8
    public var b: UInt8
    public var c: UInt8
    public var offset: UInt32
    public var immediate: UInt64

    public init(_ operation: Operation, width: RegisterWidth = .bits32, bar: UInt8 = 0, a: UInt8 = 0, b: UInt8 = 0, c: UInt8 = 0,
                offset: UInt32 = 0, immediate: UInt64 = 0) {
        self.operation = operation
        self.width = width
        self.bar = bar
        self.a = a
        self.b = b
        self.c = c
        self.offset = offset
        self.immediate = immediate
    }
}

/// A compiled register program. Slot 0 holds the vector (the MSI/MSI-X message
/// number; 0 for INTx) when the program starts; the others start at 0.
public struct RegisterProgram: Sendable, Hashable {
    /// Value slots a program may use (slot 0 is the vector).
    public static let slotCount = 16

    public let instructions: ContiguousArray<RegisterInstruction>

    /// Every register access the program makes (for validation and for messages).
    public var accesses: [RegisterAccessSite] = []

    public init(_ instructions: ContiguousArray<RegisterInstruction>, accesses: [RegisterAccessSite] = []) {
        precondition(instructions.allSatisfy { max($0.a, $0.b, $0.c) < Self.slotCount }, "slot out of range")
        self.instructions = instructions
        self.accesses = accesses
    }

    /// An empty program (claims).
    public static let empty = RegisterProgram([])

    /// Runs the program. Returns the claim: false when a `return: unclaimed` ended it,
    /// true when `return: claimed` did or it ran to its end.
    ///
    /// Interrupt-safe: no allocation (the slots are an `InlineArray` on the stack, the
    /// instructions are read in place), no lock, no logging, no retain per step.
    /// `@inlinable` so a caller in another module (the ISR wiring) gets it specialised
    /// for its register file: direct calls, no witness table per access.
    @inlinable
    public func run<Registers: RegisterFile>(on registers: Registers, vector: UInt32 = 0) -> Bool {
        var slots = InlineArray<16, UInt64>(repeating: 0)
        slots[0] = UInt64(vector)
        return instructions.withUnsafeBufferPointer { program in
            for instruction in program {
                let bar = Int(instruction.bar), offset = Int(instruction.offset), width = instruction.width
                switch instruction.operation {
                case .read:
                    slots[Int(instruction.a)] = registers.read(bar: bar, offset: offset, width: width)
                case .write:
                    registers.write(bar: bar, offset: offset, width: width, value: slots[Int(instruction.b)] & width.mask)
                case .modify:
                    let old = registers.read(bar: bar, offset: offset, width: width)
                    let new = old & ~slots[Int(instruction.b)] | slots[Int(instruction.c)]
                    registers.write(bar: bar, offset: offset, width: width, value: new & width.mask)
                case .constant:
                    slots[Int(instruction.a)] = instruction.immediate
                case .and: slots[Int(instruction.a)] = slots[Int(instruction.b)] & slots[Int(instruction.c)]
                case .or: slots[Int(instruction.a)] = slots[Int(instruction.b)] | slots[Int(instruction.c)]
                case .xor: slots[Int(instruction.a)] = slots[Int(instruction.b)] ^ slots[Int(instruction.c)]
                case .add: slots[Int(instruction.a)] = slots[Int(instruction.b)] &+ slots[Int(instruction.c)]
                case .subtract: slots[Int(instruction.a)] = slots[Int(instruction.b)] &- slots[Int(instruction.c)]
                case .shiftLeft: slots[Int(instruction.a)] = slots[Int(instruction.b)] &<< slots[Int(instruction.c)]
                case .shiftRight: slots[Int(instruction.a)] = slots[Int(instruction.b)] &>> slots[Int(instruction.c)]
                case .not: slots[Int(instruction.a)] = ~slots[Int(instruction.b)]
                case .returnIfZero:
                    if slots[Int(instruction.b)] == 0 { return instruction.immediate != 0 }
                case .returnIfNonZero:
                    if slots[Int(instruction.b)] != 0 { return instruction.immediate != 0 }
                case .return:
                    return instruction.immediate != 0
                }
            }
            return true
        }
    }
}

/// Where a program touches a register, and where the profile said so.
public struct RegisterAccessSite: Sendable, Hashable {
    public var bar: Int
    public var offset: UInt64
    public var width: RegisterWidth
    /// The profile location of the access's `bar` field (and of its offset, width).
    public var barLocation: ProfileLocation
    public var offsetLocation: ProfileLocation
    public var widthLocation: ProfileLocation

    public init(bar: Int, offset: UInt64, width: RegisterWidth,
                barLocation: ProfileLocation, offsetLocation: ProfileLocation, widthLocation: ProfileLocation) {
        self.bar = bar
        self.offset = offset
        self.width = width
        self.barLocation = barLocation
        self.offsetLocation = offsetLocation
        self.widthLocation = widthLocation
    }
}
