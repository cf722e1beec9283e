// Compiles a profile's list of steps into a `RegisterProgram`, once, at load.
//
//   - read: {bar: 0, offset: 0x24, width: 32}   # width defaults to 32
//     into: status
//   - if_zero: status                            # acknowledge programs only
//     return: unclaimed
//   - write: {bar: 0, offset: 0x64}
//     value: status                              # an expression (ProfileExpression)
//   - modify: {bar: 0, offset: 0x04, width: 16}  # read-modify-write
//     clear: 0x400
//     set: 0x4
//   - let: cause
//     value: 1 << (20 + vector)
//   - return: claimed                            # acknowledge programs only

struct ProgramCompiler {
    /// Acknowledge programs may test and return; stimulus and set-up programs may not.
    let allowsReturn: Bool

    private var instructions = ContiguousArray<RegisterInstruction>()
    private var accesses: [RegisterAccessSite] = []
    /// Names bound so far and their slots (slot 0 is `vector`).
    private var names: [String: UInt8] = ["vector": 0]
    private var nextNameSlot: UInt8 = 1
    /// Temporaries count down from the top slot, freed after each step.
    private var nextTemporary = UInt8(RegisterProgram.slotCount - 1)

    init(allowsReturn: Bool) {
        self.allowsReturn = allowsReturn
    }

    static func compile(_ node: ProfileNode, allowsReturn: Bool) throws(ProfileError) -> RegisterProgram {
        var compiler = ProgramCompiler(allowsReturn: allowsReturn)
        for step in try node.sequence() { try compiler.step(step) }
        return RegisterProgram(compiler.instructions, accesses: compiler.accesses)
    }

    private static let verbs = ["read", "write", "modify", "let", "if_zero", "if_nonzero", "return"]

    private mutating func step(_ node: ProfileNode) throws(ProfileError) {
        defer { nextTemporary = UInt8(RegisterProgram.slotCount - 1) }
        // One verb per step; its companions are checked once the verb is known.
        guard case .mapping = node.node else { throw node.error(.badValue, "a step is a mapping with one of \(Self.verbs.joined(separator: ", "))") }
        let verb = try node.mapping(allowed: Self.verbs + ["into", "value", "clear", "set"]).keys.filter { Self.verbs.contains($0) }
        let returnOnly = verb == ["return"]
        guard verb.count == 1 || (verb.count == 2 && verb.contains("return") && (verb.contains("if_zero") || verb.contains("if_nonzero"))) || returnOnly else {
            throw node.error(.badValue, verb.isEmpty ? "a step needs one of \(Self.verbs.joined(separator: ", "))"
                                                      : "a step does one thing; found \(verb.joined(separator: " and "))")
        }
        let condition = verb.first { $0 == "if_zero" || $0 == "if_nonzero" }
        switch condition ?? verb[0] {
        case "read":
            let fields = try node.mapping(allowed: ["read", "into"])
            let site = try access(fields.required("read"))
            let slot = try bind(fields.required("into"))
            emit(RegisterInstruction(.read, width: site.width, bar: UInt8(site.bar), a: slot, offset: UInt32(site.offset)), site)
        case "write":
            let fields = try node.mapping(allowed: ["write", "value"])
            let site = try access(fields.required("write"))
            let value = try expression(fields.required("value"), fitting: site.width)
            emit(RegisterInstruction(.write, width: site.width, bar: UInt8(site.bar), b: value, offset: UInt32(site.offset)), site)
        case "modify":
            let fields = try node.mapping(allowed: ["modify", "clear", "set"])
            let site = try access(fields.required("modify"))
            guard fields["clear"] != nil || fields["set"] != nil else { throw node.error(.missingField, "a modify step needs 'clear', 'set' or both") }
            let clear = try fields["clear"].map { node throws(ProfileError) in try expression(node, fitting: site.width) }
            let set = try fields["set"].map { node throws(ProfileError) in try expression(node, fitting: site.width) }
            let zero = clear == nil || set == nil ? try constant(0, node) : 0
            emit(RegisterInstruction(.modify, width: site.width, bar: UInt8(site.bar), b: clear ?? zero, c: set ?? zero, offset: UInt32(site.offset)), site)
        case "let":
            let fields = try node.mapping(allowed: ["let", "value"])
            let value = try expression(fields.required("value"), fitting: .bits64)
            let slot = try bind(fields.required("let"))
            instructions.append(RegisterInstruction(.or, a: slot, b: value, c: value))
        case "if_zero", "if_nonzero":
            let conditionKey = condition ?? "if_zero"
            let fields = try node.mapping(allowed: [conditionKey, "return"])
            guard allowsReturn else { throw try fields.required(conditionKey).error(.unknownKey, "tests and returns belong in 'acknowledge' programs only") }
            let tested = try expression(fields.required(conditionKey), fitting: .bits64)
            let claimed = try claim(fields.required("return"))
            instructions.append(RegisterInstruction(conditionKey == "if_zero" ? .returnIfZero : .returnIfNonZero, b: tested, immediate: claimed ? 1 : 0))
        default: // "return"
            let fields = try node.mapping(allowed: ["return"])
            let returnNode = try fields.required("return")
            guard allowsReturn else { throw returnNode.error(.unknownKey, "tests and returns belong in 'acknowledge' programs only") }
            instructions.append(RegisterInstruction(.return, immediate: try claim(returnNode) ? 1 : 0))
        }
    }

    private mutating func emit(_ instruction: RegisterInstruction, _ site: RegisterAccessSite) {
        instructions.append(instruction)
        accesses.append(site)
    }

    private func claim(_ node: ProfileNode) throws(ProfileError) -> Bool {
        switch try node.string() {
        case "claimed": return true
        case "unclaimed": return false
        case let other: throw node.error(.badValue, "'\(other)' is not claimed or unclaimed")
        }
    }

    /// `{bar: N, offset: N, width: 8|16|32|64}`: checked here for what needs no device
    /// (BAR 0 to 5, the width, alignment); the device's BAR sizes are checked at bind.
    private func access(_ node: ProfileNode) throws(ProfileError) -> RegisterAccessSite {
        let fields = try node.mapping(allowed: ["bar", "offset", "width"])
        let barNode = try fields.required("bar")
        let offsetNode = try fields.required("offset")
        let bar = try barNode.integer(what: "a BAR number")
        guard bar < UInt64(PCIBARs.count) else { throw barNode.error(.unknownBAR, "BAR \(bar) does not exist (BARs are 0 to 5)") }
        var width = RegisterWidth.bits32
        if let widthNode = fields["width"] {
            let bits = try widthNode.integer(what: "a width")
            guard let declared = UInt8(exactly: bits).flatMap(RegisterWidth.init(rawValue:)) else {
                throw widthNode.error(.badWidth, "width \(bits) is not 8, 16, 32 or 64")
            }
            width = declared
        }
        let offset = try offsetNode.integer(atMost: UInt64(UInt32.max), what: "an offset")
        guard offset % UInt64(width.byteCount) == 0 else {
            throw offsetNode.error(.misalignedOffset, "offset 0x\(String(offset, radix: 16)) is not aligned for \(width.withArticle) access (a multiple of \(width.byteCount))")
        }
        return RegisterAccessSite(bar: Int(bar), offset: offset, width: width, barLocation: barNode.location,
                                  offsetLocation: offsetNode.location, widthLocation: fields["width"]?.location ?? node.location)
    }

    /// A name to bind (`into`, `let`): a slot of its own, reused if bound before.
    private mutating func bind(_ node: ProfileNode) throws(ProfileError) -> UInt8 {
        let name = try node.string()
        guard let first = name.first, first.isLetter || first == "_", name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
            throw node.error(.badValue, "'\(name)' is not a name (letters, digits and _)")
        }
        guard name != "vector" else { throw node.error(.badValue, "'vector' is the interrupt's vector and cannot be assigned") }
        if let slot = names[name] { return slot }
        // Names take slots from 1 up, leaving at least three temporaries at the top.
        guard Int(nextNameSlot) < RegisterProgram.slotCount - 3 else {
            throw node.error(.badValue, "too many names in one program (at most \(RegisterProgram.slotCount - 4))")
        }
        names[name] = nextNameSlot
        nextNameSlot += 1
        return names[name]!
    }

    private mutating func temporary() -> UInt8? {
        guard nextTemporary >= nextNameSlot else { return nil }
        defer { nextTemporary &-= 1 }
        return nextTemporary
    }

    private mutating func constant(_ value: UInt64, _ node: ProfileNode) throws(ProfileError) -> UInt8 {
        guard let slot = temporary() else { throw tooComplex(node) }
        instructions.append(RegisterInstruction(.constant, a: slot, immediate: value))
        return slot
    }

    /// Compiles an expression into a slot; a constant must fit `width`.
    private mutating func expression(_ node: ProfileNode, fitting width: RegisterWidth) throws(ProfileError) -> UInt8 {
        let text = try node.string()
        let parsed: ProfileExpression
        switch ProfileExpression.parse(text) {
        case .success(let expression): parsed = expression
        case .failure(let error): throw node.error(.badValue, "'\(text)': \(error.message)")
        }
        if let value = parsed.constantValue {
            guard value & ~width.mask == 0 else { throw node.error(.badValue, "0x\(String(value, radix: 16)) does not fit \(width.withArticle) register") }
            return try constant(value, node)
        }
        return try emit(parsed, node)
    }

    private mutating func emit(_ expression: ProfileExpression, _ node: ProfileNode) throws(ProfileError) -> UInt8 {
        if let value = expression.constantValue { return try constant(value, node) }
        switch expression {
        case .constant(let value):
            return try constant(value, node)
        case .name(let name):
            guard let slot = names[name] else {
                throw node.error(.badValue, "'\(name)' is not defined here (names come from an earlier 'into' or 'let', or are 'vector')")
            }
            return slot
        case .not(let operand):
            let source = try emit(operand, node)
            guard let target = temporary() else { throw tooComplex(node) }
            instructions.append(RegisterInstruction(.not, a: target, b: source))
            return target
        case .binary(let op, let left, let right):
            let leftSlot = try emit(left, node)
            let rightSlot = try emit(right, node)
            guard let target = temporary() else { throw tooComplex(node) }
            let operation: RegisterInstruction.Operation = switch op {
            case .or: .or
            case .xor: .xor
            case .and: .and
            case .shiftLeft: .shiftLeft
            case .shiftRight: .shiftRight
            case .add: .add
            case .subtract: .subtract
            }
            instructions.append(RegisterInstruction(operation, a: target, b: leftSlot, c: rightSlot))
            return target
        }
    }

    private func tooComplex(_ node: ProfileNode) -> ProfileError {
        node.error(.badValue, "expression too complex for the \(RegisterProgram.slotCount) value slots; split it with 'let'")
    }
}
