// InterruptBridgeSystem is the only module that makes system calls.
// One file per kernel facility; each wraps the C names in a caseless enum.
