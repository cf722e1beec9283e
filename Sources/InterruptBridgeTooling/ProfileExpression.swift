// The value expressions of a register program: "status", "0x1",
// "ivposition << 16 | vector", "1 << (20 + vector)".
//
// Integers (as in `ProfileNode.integer`), names bound by earlier steps, `vector` (the
// MSI/MSI-X message number, 0 for INTx), C's operators ~ + - << >> & ^ | with C's
// precedence, and parentheses. Arithmetic is 64-bit and wraps.

indirect enum ProfileExpression: Equatable {
    case constant(UInt64)
    case name(String)
    case not(ProfileExpression)
    case binary(Operator, ProfileExpression, ProfileExpression)

    enum Operator: String, CaseIterable {
        case or = "|", xor = "^", and = "&", shiftLeft = "<<", shiftRight = ">>", add = "+", subtract = "-"

        /// C's precedence, loosest first.
        var precedence: Int {
            switch self {
            case .or: 0
            case .xor: 1
            case .and: 2
            case .shiftLeft, .shiftRight: 3
            case .add, .subtract: 4
            }
        }

        func apply(_ left: UInt64, _ right: UInt64) -> UInt64 {
            switch self {
            case .or: left | right
            case .xor: left ^ right
            case .and: left & right
            case .shiftLeft: left &<< right
            case .shiftRight: left &>> right
            case .add: left &+ right
            case .subtract: left &- right
            }
        }
    }

    /// The value when no name is involved (folded at compile time).
    var constantValue: UInt64? {
        switch self {
        case .constant(let value): value
        case .name: nil
        case .not(let operand): operand.constantValue.map { ~$0 }
        case .binary(let op, let left, let right):
            if let left = left.constantValue, let right = right.constantValue { op.apply(left, right) } else { nil }
        }
    }

    /// Parses `text`; the error message says what is wrong and where in the text.
    static func parse(_ text: String) -> Result<ProfileExpression, ExpressionSyntaxError> {
        var parser = Parser(tokens: [], position: 0)
        do throws(ExpressionSyntaxError) {
            parser.tokens = try tokenize(text)
            let expression = try parser.expression(minimumPrecedence: 0)
            if parser.position < parser.tokens.count { throw ExpressionSyntaxError("unexpected '\(parser.tokens[parser.position])'") }
            return .success(expression)
        } catch {
            return .failure(error)
        }
    }

    struct ExpressionSyntaxError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }

    private enum Token: CustomStringConvertible {
        case number(UInt64), name(String), op(Operator), not, open, close
        var description: String {
            switch self {
            case .number(let value): String(value)
            case .name(let name): name
            case .op(let op): op.rawValue
            case .not: "~"
            case .open: "("
            case .close: ")"
            }
        }
    }

    private static func tokenize(_ text: String) throws(ExpressionSyntaxError) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.isWhitespace { index += 1; continue }
            if character.isLetter || character == "_" || character.isNumber {
                var end = index
                while end < characters.count, characters[end].isLetter || characters[end].isNumber || characters[end] == "_" { end += 1 }
                let word = String(characters[index..<end])
                if character.isNumber {
                    guard let value = ProfileNode.parseInteger(word) else { throw ExpressionSyntaxError("'\(word)' is not a number") }
                    tokens.append(.number(value))
                } else {
                    tokens.append(.name(word))
                }
                index = end
                continue
            }
            let rest = String(characters[index...])
            if rest.hasPrefix("<<") || rest.hasPrefix(">>") {
                tokens.append(.op(rest.hasPrefix("<<") ? .shiftLeft : .shiftRight))
                index += 2
                continue
            }
            switch character {
            case "~": tokens.append(.not)
            case "(": tokens.append(.open)
            case ")": tokens.append(.close)
            default:
                guard let op = Operator(rawValue: String(character)) else { throw ExpressionSyntaxError("unexpected '\(character)'") }
                tokens.append(.op(op))
            }
            index += 1
        }
        if tokens.isEmpty { throw ExpressionSyntaxError("empty expression") }
        return tokens
    }

    private struct Parser {
        var tokens: [Token]
        var position: Int

        mutating func expression(minimumPrecedence: Int) throws(ExpressionSyntaxError) -> ProfileExpression {
            var left = try operand()
            while position < tokens.count, case .op(let op) = tokens[position], op.precedence >= minimumPrecedence {
                position += 1
                let right = try expression(minimumPrecedence: op.precedence + 1)
                left = .binary(op, left, right)
            }
            return left
        }

        mutating func operand() throws(ExpressionSyntaxError) -> ProfileExpression {
            guard position < tokens.count else { throw ExpressionSyntaxError("the expression ends too early") }
            let token = tokens[position]
            position += 1
            switch token {
            case .number(let value): return .constant(value)
            case .name(let name): return .name(name)
            case .not: return .not(try operand())
            case .open:
                let inner = try expression(minimumPrecedence: 0)
                guard position < tokens.count, case .close = tokens[position] else { throw ExpressionSyntaxError("missing ')'") }
                position += 1
                return inner
            case .op, .close: throw ExpressionSyntaxError("unexpected '\(token)'")
            }
        }
    }
}
