import Dispatch

/// Runs blocking system calls (file copies, fsync, directory walks) off Swift's cooperative
/// thread pool, so a slow disk never stalls other calls' tasks.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "argo-artifact-plugin.blocking-io", attributes: .concurrent)

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in
            queue.async {
                c.resume(with: Result { try body() })
            }
        }
    }
}

/// Hands a value the compiler cannot prove safe across threads to a closure that uses it
/// exclusively (a part buffer owned by one task until released).
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
