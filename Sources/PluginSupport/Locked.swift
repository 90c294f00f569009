import CSystem
import Synchronization

/// A value behind a lock: the standard library's `Mutex`, with the lock's acquire and release
/// announced to ThreadSanitizer (its runtime cannot see inside the futex-based Mutex, and would
/// report every access under it as a race). Everything the plugin shares between threads sits in
/// one of these or in an `Atomic`.
public final class Locked<Value>: Sendable {
    private let mutex: Mutex<Value>

    public init(_ value: sending Value) {
        mutex = Mutex(value)
    }

    @inline(__always)
    public func withLock<Result, E: Error>(_ body: (inout sending Value) throws(E) -> sending Result) throws(E) -> sending Result {
        try mutex.withLock { (value: inout sending Value) throws(E) -> sending Result in
            let id = Unmanaged.passUnretained(self).toOpaque()
            argo_tsan_acquire(id)
            defer { argo_tsan_release(id) }
            return try body(&value)
        }
    }
}
