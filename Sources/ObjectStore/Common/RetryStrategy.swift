import PluginSupport
import StoreHTTP
import Synchronization

/// The one retry strategy of a store's requests (aws-c-s3's shape): each request has a budget
/// of attempts (`retry.attempts`); the store has a shared budget of retry tokens that retries
/// spend and successes earn back, so when the store is down, requests stop retrying quickly
/// instead of multiplying its load. Backoff is exponential with full jitter.
public final class RetryStrategy: Sendable {
    /// Why an attempt failed, as the strategy sees it.
    public enum Failure: Sendable, Equatable {
        /// A 5xx or a broken connection: worth another attempt for an idempotent request.
        case transient
        /// Throttling (SlowDown, 503, 429): another attempt after a longer pause.
        case throttled
        /// The bytes arrived (or were stored) damaged: send them again.
        case damaged
        /// Not worth another attempt.
        case permanent
    }

    public let attempts: Int
    let baseDelayMs: Int
    let maxDelayMs: Int
    private let tokens: Locked<Int>
    let capacity: Int

    static let retryCost = 5
    static let timeoutCost = 10

    public init(attempts: Int, baseDelayMs: Int = 100, maxDelayMs: Int = 10_000, budget: Int = 500) {
        self.attempts = max(1, attempts)
        self.baseDelayMs = baseDelayMs
        self.maxDelayMs = maxDelayMs
        self.capacity = budget
        tokens = Locked(budget)
    }

    /// Tokens left in the shared budget.
    public var tokensLeft: Int { tokens.withLock { $0 } }

    /// Attempts a request gets: clean-up (aborting an upload, removing a failed Save's objects)
    /// gets twice as many, since nothing else removes what it leaves behind.
    public func attempts(cleanup: Bool) -> Int { cleanup ? attempts * 2 : attempts }

    /// Whether attempt `attempt` (1-based) may be followed by another, and after how long.
    /// Spends tokens when it says yes (clean-up may run on an empty budget).
    public func retry(after failure: Failure, attempt: Int, idempotent: Bool, timedOut: Bool = false, cleanup: Bool = false) -> Duration? {
        guard failure != .permanent, attempt < attempts(cleanup: cleanup) else { return nil }
        guard idempotent || failure == .damaged else { return nil }
        let cost = timedOut ? Self.timeoutCost : Self.retryCost
        let granted = tokens.withLock { t -> Bool in
            guard t >= cost else { return cleanup }
            t -= cost
            return true
        }
        guard granted else { return nil }
        return delay(beforeAttempt: attempt + 1, throttled: failure == .throttled)
    }

    /// A request succeeded: after retries their tokens come back, otherwise one is earned.
    public func succeeded(afterAttempts n: Int) {
        tokens.withLock { t in t = min(capacity, t + (n > 1 ? (n - 1) * Self.retryCost : 1)) }
    }

    /// Delay before attempt `n` (n ≥ 2): random in [0, min(max, base·2^(n-2))]; throttling
    /// starts from a longer base.
    public func delay(beforeAttempt n: Int, throttled: Bool = false) -> Duration {
        let base = throttled ? baseDelayMs * 5 : baseDelayMs
        let cap = min(maxDelayMs, base << min(20, max(0, n - 2)))
        return .milliseconds(Int.random(in: 0...cap))
    }

    /// How a store's error answer counts.
    public static func classify(_ e: StoreError) -> Failure {
        switch e.kind {
        case .throttled: return .throttled
        case .transient: return .transient
        case .badDigest: return .damaged
        default: return e.status >= 500 ? .transient : .permanent
        }
    }

    /// How a transport failure counts.
    public static func classify(_ e: HTTPClientError) -> Failure {
        e.isTransient ? .transient : .permanent
    }
}
