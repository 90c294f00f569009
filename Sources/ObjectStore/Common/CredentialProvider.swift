import Foundation
import PluginSupport
import Synchronization

/// Where credentials come from, resolved lazily, cached, and refreshed shortly before they
/// expire (temporary ones) or every few minutes (Secrets may be rotated). When they expire under
/// many requests at once, one resolution (one STS call, one Secret read) serves them all.
public final class CredentialProvider: Sendable {
    public typealias Resolve = @Sendable () async throws -> Credentials

    private let resolve: Resolve
    private let describeSource: String
    private let cached = Locked<(value: Credentials, validUntil: Int64)?>(nil)
    private let refreshMargin: Int64
    private let staticTTL: Int64
    private let resolutions = SingleFlight<Int, Credentials>()

    /// `source` says where they come from, for messages ("secret my-cred", "environment").
    public init(source: String, refreshMargin: Int64 = 300, staticTTL: Int64 = 600, _ resolve: @escaping Resolve) {
        self.resolve = resolve
        self.describeSource = source
        self.refreshMargin = refreshMargin
        self.staticTTL = staticTTL
    }

    public var source: String { describeSource }

    public func credentials(now: Int64 = HTTPDate.now()) async throws -> Credentials {
        if let c = cached.withLock({ $0 }), now < c.validUntil { return c.value }
        let (resolve, margin, ttl) = (self.resolve, refreshMargin, staticTTL)
        let fresh = try await resolutions.run(0) { try await resolve() }
        let until = fresh.expiration.map { $0 - margin } ?? now + ttl
        cached.withLock { $0 = (fresh, max(until, now + 1)) }
        return fresh
    }

    /// Resolutions made so far (concurrent callers share one).
    public var resolveCount: Int { resolutions.callCount }

    /// Drops the cache (after the store rejected the credentials: they may have been rotated).
    public func invalidate() { cached.withLock { $0 = nil } }

    public static func fixed(_ c: Credentials, source: String) -> CredentialProvider {
        CredentialProvider(source: source, staticTTL: Int64.max / 2) { c }
    }
}

/// Thrown when a configuration names no way to get credentials, or that way fails.
public struct CredentialError: CategorizedError, CustomStringConvertible, Sendable {
    public var category: FailureCategory { .unauthenticated }
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}

