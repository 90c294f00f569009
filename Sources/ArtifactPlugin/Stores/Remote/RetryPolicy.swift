/// Exponential backoff with full jitter (AWS's recommendation), for idempotent requests.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelayMs: Int = 100
    public var maxDelayMs: Int = 10_000

    public init(attempts: Int) { self.attempts = max(1, attempts) }

    /// Delay before attempt `n` (n ≥ 2): random in [0, min(max, base·2^(n-2))].
    public func delay(beforeAttempt n: Int) -> Duration {
        let cap = min(maxDelayMs, baseDelayMs << min(20, max(0, n - 2)))
        return .milliseconds(Int.random(in: 0...cap))
    }
}
