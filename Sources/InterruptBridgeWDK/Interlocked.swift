// The Interlocked* routines an ISR and its DPC share state with, such as the status bits
// an ISR collects and its DPC takes:
//
//     InterlockedOr(&devExt->PendingStatus, status);          // ISR
//     status = InterlockedExchange(&devExt->PendingStatus, 0); // DPC
//
// A C driver declares the field `volatile LONG` and passes its address; Swift has no
// stable address for a class's stored property, so the field is a `Synchronization.Atomic`
// (`let PendingStatus = Atomic<LONG>(0)`) and the call passes the field itself:
// `InterlockedOr(devExt.PendingStatus, status)`. Each is one atomic instruction with a
// full barrier, as on x64 (`lock`-prefixed); none allocates, so all are safe in an ISR.
// Arithmetic wraps, as two's complement does in C.
public import Synchronization

public typealias LONG64 = Int64

/// `InterlockedIncrement(&Addend)`: adds 1; returns the incremented value.
@inlinable @discardableResult
public func InterlockedIncrement(_ Addend: borrowing Atomic<LONG>) -> LONG {
    Addend.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
}

/// `InterlockedDecrement(&Addend)`: subtracts 1; returns the decremented value.
@inlinable @discardableResult
public func InterlockedDecrement(_ Addend: borrowing Atomic<LONG>) -> LONG {
    Addend.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
}

/// `InterlockedExchange(&Target, Value)`: stores `Value`; returns the value it replaced.
@inlinable @discardableResult
public func InterlockedExchange(_ Target: borrowing Atomic<LONG>, _ Value: LONG) -> LONG {
    Target.exchange(Value, ordering: .sequentiallyConsistent)
}

/// `InterlockedCompareExchange(&Destination, ExChange, Comperand)`: stores `ExChange` when
/// the value is `Comperand`; returns the value it found either way (the exchange happened
/// when that equals `Comperand`).
@inlinable @discardableResult
public func InterlockedCompareExchange(_ Destination: borrowing Atomic<LONG>, _ ExChange: LONG, _ Comperand: LONG) -> LONG {
    Destination.compareExchange(expected: Comperand, desired: ExChange, ordering: .sequentiallyConsistent).original
}

/// `InterlockedExchangeAdd(&Addend, Value)`: adds `Value`; returns the value before.
@inlinable @discardableResult
public func InterlockedExchangeAdd(_ Addend: borrowing Atomic<LONG>, _ Value: LONG) -> LONG {
    Addend.wrappingAdd(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `InterlockedAdd(&Addend, Value)`: adds `Value`; returns the sum.
@inlinable @discardableResult
public func InterlockedAdd(_ Addend: borrowing Atomic<LONG>, _ Value: LONG) -> LONG {
    Addend.wrappingAdd(Value, ordering: .sequentiallyConsistent).newValue
}

/// `InterlockedOr(&Destination, Value)`: sets `Value`'s bits; returns the value before.
@inlinable @discardableResult
public func InterlockedOr(_ Destination: borrowing Atomic<LONG>, _ Value: LONG) -> LONG {
    Destination.bitwiseOr(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `InterlockedAnd(&Destination, Value)`: keeps only `Value`'s bits; returns the value before.
@inlinable @discardableResult
public func InterlockedAnd(_ Destination: borrowing Atomic<LONG>, _ Value: LONG) -> LONG {
    Destination.bitwiseAnd(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `InterlockedXor(&Destination, Value)`: flips `Value`'s bits; returns the value before.
@inlinable @discardableResult
public func InterlockedXor(_ Destination: borrowing Atomic<LONG>, _ Value: LONG) -> LONG {
    Destination.bitwiseXor(Value, ordering: .sequentiallyConsistent).oldValue
}

// The 64-bit forms, on `Atomic<LONG64>`.

/// `InterlockedIncrement64(&Addend)`: adds 1; returns the incremented value.
@inlinable @discardableResult
public func InterlockedIncrement64(_ Addend: borrowing Atomic<LONG64>) -> LONG64 {
    Addend.wrappingAdd(1, ordering: .sequentiallyConsistent).newValue
}

/// `InterlockedDecrement64(&Addend)`: subtracts 1; returns the decremented value.
@inlinable @discardableResult
public func InterlockedDecrement64(_ Addend: borrowing Atomic<LONG64>) -> LONG64 {
    Addend.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue
}

/// `InterlockedExchange64(&Target, Value)`: stores `Value`; returns the value it replaced.
@inlinable @discardableResult
public func InterlockedExchange64(_ Target: borrowing Atomic<LONG64>, _ Value: LONG64) -> LONG64 {
    Target.exchange(Value, ordering: .sequentiallyConsistent)
}

/// `InterlockedCompareExchange64(&Destination, ExChange, Comperand)`: stores `ExChange`
/// when the value is `Comperand`; returns the value it found either way.
@inlinable @discardableResult
public func InterlockedCompareExchange64(_ Destination: borrowing Atomic<LONG64>, _ ExChange: LONG64, _ Comperand: LONG64) -> LONG64 {
    Destination.compareExchange(expected: Comperand, desired: ExChange, ordering: .sequentiallyConsistent).original
}

/// `InterlockedExchangeAdd64(&Addend, Value)`: adds `Value`; returns the value before.
@inlinable @discardableResult
public func InterlockedExchangeAdd64(_ Addend: borrowing Atomic<LONG64>, _ Value: LONG64) -> LONG64 {
    Addend.wrappingAdd(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `InterlockedAdd64(&Addend, Value)`: adds `Value`; returns the sum.
@inlinable @discardableResult
public func InterlockedAdd64(_ Addend: borrowing Atomic<LONG64>, _ Value: LONG64) -> LONG64 {
    Addend.wrappingAdd(Value, ordering: .sequentiallyConsistent).newValue
}

/// `InterlockedOr64(&Destination, Value)`: sets `Value`'s bits; returns the value before.
@inlinable @discardableResult
public func InterlockedOr64(_ Destination: borrowing Atomic<LONG64>, _ Value: LONG64) -> LONG64 {
    Destination.bitwiseOr(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `InterlockedAnd64(&Destination, Value)`: keeps only `Value`'s bits; returns the value before.
@inlinable @discardableResult
public func InterlockedAnd64(_ Destination: borrowing Atomic<LONG64>, _ Value: LONG64) -> LONG64 {
    Destination.bitwiseAnd(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `InterlockedXor64(&Destination, Value)`: flips `Value`'s bits; returns the value before.
@inlinable @discardableResult
public func InterlockedXor64(_ Destination: borrowing Atomic<LONG64>, _ Value: LONG64) -> LONG64 {
    Destination.bitwiseXor(Value, ordering: .sequentiallyConsistent).oldValue
}

/// `KeMemoryBarrier()`: a full barrier, so no load or store moves across it (the
/// processor's and the compiler's). `MemoryBarrier()` is the same.
@inlinable
public func KeMemoryBarrier() {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
}

/// `MemoryBarrier()`: see ``KeMemoryBarrier()``.
@inlinable
public func MemoryBarrier() {
    atomicMemoryFence(ordering: .sequentiallyConsistent)
}
