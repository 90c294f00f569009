import Foundation
import Kubernetes
import PluginSupport
import StoreHTTP

/// What every store of the process shares: the HTTP client, the I/O pool, the memory budget and
/// the concurrency the process's limits allow, the cluster's API, the owner of late clean-up
/// work, and the environment credentials are read from.
public struct StoreEnvironment: Sendable {
    /// Every request of every store (the curl client; a scripted double in unit tests).
    public var http: any HTTPTransport
    public var io: IOPool
    /// The one budget every transfer of every store draws on.
    public var budget: MemoryBudget
    /// Requests in flight per transfer at most (the CPU quota's share); the store's own
    /// `concurrency` settings are caps within it.
    public var transferConcurrency: Int
    public var kubernetes: KubernetesAccess
    /// Where late clean-up jobs go (nil: none are scheduled).
    public var deferred: DeferredWork?
    public var processEnvironment: [String: String]

    public init(http: any HTTPTransport = HTTPClient.shared, io: IOPool = .shared, budget: MemoryBudget? = nil,
                transferConcurrency: Int = ResourcePlan.defaultConcurrency, kubernetes: KubernetesAccess = .shared,
                deferred: DeferredWork? = nil, processEnvironment: [String: String] = ProcessInfo.processInfo.environment) {
        self.http = http
        self.io = io
        self.budget = budget ?? MemoryBudget(limit: ResourcePlan.defaultBudget, origin: "the default")
        self.transferConcurrency = max(1, transferConcurrency)
        self.kubernetes = kubernetes
        self.deferred = deferred
        self.processEnvironment = processEnvironment
    }
}
