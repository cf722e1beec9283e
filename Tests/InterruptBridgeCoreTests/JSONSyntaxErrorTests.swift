import InterruptBridgeCore
import Testing

/// The line, column and problem of the first break in a JSON text, which Foundation
/// reports as "not valid JSON" (its decoder) or a byte offset (JSONSerialization).
@Suite struct JSONSyntaxErrorTests {
    @Test(arguments: [
        "{}", "[]", " 0 ", "-0.0", "\"s\"", "true", "null",
        #"{"a": [1, -2.5e+3, 1E-2, true, false, null, "x\u00e9\n\"\\\/\b\f\r\t", {}, []], "é": {"b": "😀"}}"#,
        "{\n\t\"a\" : 1 ,\r\n \"b\":[ ]\n}\n",
        // Foundation's parser takes a comma after the last item, so this does too.
        #"{"a": [1, 2,], }"#,
    ])
    func wellFormedTextHasNone(text: String) {
        #expect(JSONSyntaxError.first(in: text) == nil, "\(text)")
    }

    @Test(arguments: [
        ("", 1, 1, "the text ends where a value should be"),
        ("   \n  ", 2, 3, "the text ends where a value should be"),
        ("[1,,]", 1, 4, "expected a value, found ','"),
        ("{\n  \"a\": 1\n  \"b\": 2\n}", 3, 3, #"expected ',' or '}', found '"'"#),
        (#"{"a": 1"#, 1, 8, "expected ',' or '}', found the end of the text"),
        ("[1\n", 2, 1, "expected ',' or ']', found the end of the text"),
        (#"{"a": tru}"#, 1, 7, "expected a value, found 'tru' (the words JSON has are true, false and null; a string is in double quotes)"),
        (#"{"a": True}"#, 1, 7, "expected a value, found 'True'"),
        ("{'a': 1}", 1, 2, #"expected a key in double quotes, found "'""#),
        (#"{a: 1}"#, 1, 2, "expected a key in double quotes, found 'a'"),
        (#"{"a" 1}"#, 1, 6, "expected ':' after the key, found '1'"),
        (#"{"a": }"#, 1, 7, "expected a value, found '}'"),
        (#"{"é": 1,, }"#, 1, 9, "expected a key in double quotes, found ','"),
        (#"{"a": 0x10}"#, 1, 7, "malformed number (JSON numbers are decimal: 16, -1, 2.5, 1e3)"),
        (#"{"a": 010}"#, 1, 7, "a number cannot have a leading 0"),
        (#"{"a": -}"#, 1, 8, "expected a digit after '-', found '}'"),
        (#"{"a": 1.}"#, 1, 9, "expected a digit after the decimal point, found '}'"),
        (#"{"a": 1e}"#, 1, 9, "expected a digit in the exponent, found '}'"),
        (#"{"a": "x\qy"}"#, 1, 9, "a backslash followed by 'q' is not an escape JSON has"),
        (#"{"a": "\u12"}"#, 1, 8, "'\\u' takes four hexadecimal digits"),
        ("{\"a\": \"x\ty\"}", 1, 9, "a tab inside a string: write it as an escape"),
        ("{\"a\": \"x\ny\"}", 1, 9, "a line break inside a string"),
        (#"{"a": "abc"#, 1, 7, "the string opened here is not closed"),
        (#"{"a": 1} x"#, 1, 10, "text after the end of the JSON value, from 'x'"),
        (#"{"a": 1}}"#, 1, 9, "text after the end of the JSON value, from '}'"),
        ("{\"a\": 1, \"b\": ✓}", 1, 15, "expected a value, found '✓'"),
        // Well formed by RFC 8259, but Foundation refuses it, saying only "not valid JSON".
        (#"{"rate": 1e400}"#, 1, 10, "the number 1e400 is out of range"),
        (#"[-1E+999]"#, 1, 2, "the number -1E+999 is out of range"),
    ])
    func theFirstBreakIsPlacedAndNamed(text: String, line: Int, column: Int, problem: String) throws {
        let error = try #require(JSONSyntaxError.first(in: text), "\(text)")
        #expect(error.line == line && error.column == column, "\(text): \(error)")
        #expect(error.problem.hasPrefix(problem), "\(text): \(error)")
        #expect(error.description == "line \(error.line), column \(error.column): \(error.problem)")
    }

    @Test func nestingDeeperThanParsersTakeIsNamedNotOverflowed() throws {
        let error = try #require(JSONSyntaxError.first(in: String(repeating: "[", count: 100_000)))
        #expect(error.line == 1 && error.column == 513 && error.problem == "nested more than 512 deep", "\(error)")
        #expect(JSONSyntaxError.first(in: String(repeating: "[", count: 512) + String(repeating: "]", count: 512)) == nil)
    }
}
