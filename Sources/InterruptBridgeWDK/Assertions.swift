// wdm.h's ASSERT and NT_ASSERT: checked in a debug build (as in a checked/DBG driver build),
// compiled out of a release build. A failed one stops the process, as a checked build's
// assertion breaks into the debugger.

/// `ASSERT(Expression)`.
public func ASSERT(_ Expression: @autoclosure () -> Bool, file: StaticString = #fileID, line: UInt = #line) {
    assert(Expression(), "ASSERT failed", file: file, line: line)
}

/// `NT_ASSERT(Expression)`.
public func NT_ASSERT(_ Expression: @autoclosure () -> Bool, file: StaticString = #fileID, line: UInt = #line) {
    assert(Expression(), "NT_ASSERT failed", file: file, line: line)
}
