// Reading a device profile: YAML (or JSON, which YAML reads too) through Yams,
// strictly, with every problem one ProfileError naming file, line and field.
//
//   name: edu
//   description: QEMU's educational device
//   match: {vendor: 0x1234, device: 0x11e8}     # also subsystem_vendor, subsystem,
//                                                # class, class_mask, address
//   stimulus:                                    # or {loopback: true}
//     interrupts: [intx, msi]                    # optional: the kinds it raises
//     vectors: 1                                 # optional: how many vectors
//     setup: [steps]                             # optional: once, after connecting
//     raise: [steps]                             # per interrupt
//   acknowledge: [steps]                         # the ISR (ProgramCompiler has the steps)
//   quiesce: [steps]                             # before connecting
import InterruptBridgeCore
import InterruptBridgeSystem
import Yams

public enum ProfileLoader {
    /// Parses and compiles a profile from `text`; `file` names it in errors.
    public static func load(_ text: String, file: String) throws(ProfileError) -> DeviceProfile {
        try profile(compose(text, file: file))
    }

    /// The document's root node, read strictly (also the daemon's configuration file's reader,
    /// whose `document` is "(configuration)").
    package static func compose(_ text: String, file: String, document: String = "(profile)") throws(ProfileError) -> ProfileNode {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ProfileError(.syntax, at: ProfileLocation(file: file, line: 1, column: 1, field: document), "the file is empty")
            }
            root = node
        } catch let error as ProfileError {
            throw error
        } catch {
            throw syntaxError(error, file: file, text: text)
        }
        return ProfileNode(node: root, file: file, path: "", document: document)
    }

    /// The largest profile read (the built-in ones are under 4 KiB).
    public static let fileSizeLimit = 1 << 20

    /// Reads and loads the profile at `path`: a regular file of at most
    /// `fileSizeLimit` bytes (never a FIFO waited on or /dev/zero read without end).
    public static func load(contentsOf path: String) throws(ProfileError) -> DeviceProfile {
        try load(try text(ofFileAt: path), file: path)
    }

    /// The text of the profile file at `path`, read as `load(contentsOf:)` reads it.
    public static func text(ofFileAt path: String) throws(ProfileError) -> String {
        do {
            return try RegularFile(reading: path, limit: fileSizeLimit).validText()
        } catch {
            throw ProfileError(.unreadable, at: ProfileLocation(file: path, line: 1, column: 1, field: "(file)"), "cannot read the profile: \(error)")
        }
    }

    private static let keys = ["name", "description", "match", "stimulus", "acknowledge", "quiesce"]

    /// Each top-level part is judged on its own, so a file with several mistakes is told
    /// them all (in file order: the first thrown, the rest in its `alsoFound`); within a
    /// part, the first mistake stops it.
    static func profile(_ root: ProfileNode) throws(ProfileError) -> DeviceProfile {
        var problems: [ProfileError] = []
        let fields = try root.mapping(allowed: keys, unknownKeys: &problems)
        func part<T>(_ read: () throws(ProfileError) -> T) -> T? {
            do { return try read() } catch {
                problems.append(error)
                return nil
            }
        }
        let name: String? = part { () throws(ProfileError) -> String in
            let nameNode = try fields.required("name")
            let name = try nameNode.string()
            guard !name.isEmpty else { throw nameNode.error(.badValue, "the name is empty") }
            return name
        }
        let summary: String?? = part { () throws(ProfileError) -> String? in try fields["description"]?.string() }
        let matched: DeviceMatch? = part { () throws(ProfileError) -> DeviceMatch in try Self.match(fields.required("match")) }
        let raising: ProfileStimulus?? = part { () throws(ProfileError) -> ProfileStimulus? in
            try fields["stimulus"].map { node throws(ProfileError) in try Self.stimulus(node) }
        }
        let acknowledge: RegisterProgram?? = part { () throws(ProfileError) -> RegisterProgram? in
            try fields["acknowledge"].map { node throws(ProfileError) in try ProgramCompiler.compile(node, allowsReturn: true) }
        }
        let quiesce: RegisterProgram?? = part { () throws(ProfileError) -> RegisterProgram? in
            try fields["quiesce"].map { node throws(ProfileError) in try ProgramCompiler.compile(node, allowsReturn: false) }
        }
        guard let name, let summary, let matched, let raising, let acknowledge, let quiesce, problems.isEmpty else {
            problems.sort { $0.location.isBefore($1.location) }
            var first = problems.removeFirst()
            first.alsoFound = problems
            throw first
        }
        return DeviceProfile(name: name, summary: summary, file: root.file, match: matched, stimulus: raising,
                             acknowledge: acknowledge, quiesce: quiesce, location: root.location)
    }

    static func match(_ node: ProfileNode) throws(ProfileError) -> DeviceMatch {
        let fields = try node.mapping(allowed: ["vendor", "device", "subsystem_vendor", "subsystem", "class", "class_mask", "address"])
        func id(_ key: String) throws(ProfileError) -> UInt16? {
            try fields[key].map { node throws(ProfileError) in UInt16(try node.integer(atMost: 0xFFFF, what: "a 16-bit id")) }
        }
        var match = DeviceMatch(vendorID: try id("vendor"), deviceID: try id("device"),
                                subsystemVendorID: try id("subsystem_vendor"), subsystemID: try id("subsystem"))
        if let classNode = fields["class"] { match.classCode = UInt32(try classNode.integer(atMost: 0xFF_FFFF, what: "a class code (0xBBSSPP)")) }
        if let maskNode = fields["class_mask"] {
            guard match.classCode != nil else { throw maskNode.error(.badValue, "'class_mask' needs 'class'") }
            match.classMask = UInt32(try maskNode.integer(atMost: 0xFF_FFFF, what: "a class mask"))
        }
        if let addressNode = fields["address"] {
            let text = try addressNode.string()
            guard let address = PCIAddress(text) else { throw addressNode.error(.badValue, "'\(text)' is not a PCI address (DDDD:BB:DD.F)") }
            match.address = address
        }
        if match.deviceID != nil, match.vendorID == nil { throw try fields.required("device").error(.missingField, "'device' needs 'vendor'") }
        guard match.vendorID != nil || match.classCode != nil || match.address != nil else {
            throw node.error(.missingField, "a match names 'vendor' (and 'device'), a 'class' or an 'address'")
        }
        return match
    }

    static func stimulus(_ node: ProfileNode) throws(ProfileError) -> ProfileStimulus {
        let fields = try node.mapping(allowed: ["loopback", "interrupts", "vectors", "setup", "raise"])
        var interrupts: Set<InterruptKind>?
        if let kindsNode = fields["interrupts"] {
            var kinds = Set<InterruptKind>()
            for kindNode in try kindsNode.sequence() {
                let text = try kindNode.string()
                guard let kind = InterruptKind(rawValue: text) else { throw kindNode.error(.badValue, "'\(text)' is not intx, msi or msix") }
                kinds.insert(kind)
            }
            guard !kinds.isEmpty else { throw kindsNode.error(.badValue, "an empty list: name intx, msi or msix, or leave 'interrupts' out") }
            interrupts = kinds
        }
        var vectors: Int?
        if let vectorsNode = fields["vectors"] {
            let count = try vectorsNode.integer(atMost: 2048, what: "a vector count (1 to 2048)")
            guard count > 0 else { throw vectorsNode.error(.badValue, "a vector count is at least 1") }
            vectors = Int(count)
        }
        if let loopbackNode = fields["loopback"] {
            guard try loopbackNode.bool() else { throw loopbackNode.error(.badValue, "say 'loopback: true', or leave it out and give 'raise'") }
            if let extra = fields["raise"] ?? fields["setup"] {
                throw extra.error(.badValue, "a loopback stimulus has no register programs")
            }
            return ProfileStimulus(method: .vfioLoopback, interrupts: interrupts, vectors: vectors, vectorsLocation: fields["vectors"]?.location,
                                   interruptsLocation: fields["interrupts"]?.location)
        }
        let raise = try ProgramCompiler.compile(fields.required("raise"), allowsReturn: false)
        let setup = try fields["setup"].map { node throws(ProfileError) in try ProgramCompiler.compile(node, allowsReturn: false) } ?? .empty
        return ProfileStimulus(method: .registers(setup: setup, raise: raise), interrupts: interrupts, vectors: vectors,
                               vectorsLocation: fields["vectors"]?.location, interruptsLocation: fields["interrupts"]?.location)
    }

    /// Yams' scanner, parser and composer errors carry the line and column.
    static func syntaxError(_ error: any Error, file: String, text: String) -> ProfileError {
        func at(_ mark: Mark, _ problem: String) -> ProfileError {
            ProfileError(.syntax, at: ProfileLocation(file: file, line: mark.line, column: mark.column, field: "(syntax)"),
                         "not valid YAML or JSON: \(problem)")
        }
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            return at(mark, context.map { "\(problem) (\($0.text) at line \($0.mark.line))" } ?? problem)
        case .duplicatedKeysInMapping(let duplicates, let context):
            // Yams marks the first occurrence; point at the second, the one to remove.
            let key = duplicates.first ?? ""
            let second = secondOccurrence(of: key, after: context.mark, in: text)
            return ProfileError(.badValue, at: ProfileLocation(file: file, line: second?.line ?? context.mark.line,
                                                               column: second?.column ?? context.mark.column, field: key),
                                "'\(key)' is given twice (first at line \(context.mark.line))")
        default:
            return ProfileError(.syntax, at: ProfileLocation(file: file, line: 1, column: 1, field: "(syntax)"), "not valid YAML or JSON: \(error)")
        }
    }

    /// Where (line and column, from 1) the next `key:` (or `"key":`, `'key':`) after `first`
    /// starts: at the start of a line's text, or after `{` or `,` in a flow mapping. nil
    /// when the key is written some other way (an escape, a multi-line key).
    private static func secondOccurrence(of key: String, after first: Mark, in text: String) -> (line: Int, column: Int)? {
        let spellings = [key, "\"" + key + "\"", "'" + key + "'"]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where index + 1 >= first.line {
            let characters = Array(line)
            var column = index + 1 == first.line ? first.column : 0
            while column < characters.count {
                let startsKey = column == 0 || " \t{,".contains(characters[column - 1])
                if startsKey, let spelling = spellings.first(where: { characters[column...].starts(with: $0) }) {
                    let after = characters[(column + spelling.count)...].drop { $0 == " " || $0 == "\t" }
                    if after.first == ":" { return (index + 1, column + 1) }
                }
                column += 1
            }
        }
        return nil
    }
}
