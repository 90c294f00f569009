/// What the process does with the limits it was given: the size of the one memory budget and
/// how many transfer requests and I/O threads run at once. Pure: the limits in, the plan out.
public struct ResourcePlan: Sendable, Equatable {
    public var limits: ResourceLimits
    /// Bytes all transfer data draws on (see `MemoryBudget`).
    public var budgetBytes: Int
    /// Parts of one upload, ranges of one download, in flight at once (at most).
    public var transferConcurrency: Int
    /// Threads of the I/O pool (file reads and writes, hashing of file parts).
    public var ioThreads: Int

    /// With no memory limit: today's budget.
    public static let defaultBudget = 256 << 20
    /// Peak RSS stays under this share of the limit.
    public static let limitShare = 0.75
    /// What the process holds outside the budget, measured: code and libraries (~9 MiB
    /// resident), the heaps of the server, the HTTP client and the configuration cache, curl's
    /// connection cache, thread stacks, malloc's slack.
    public static let processReserve = 24 << 20
    public static let defaultConcurrency = 8
    public static let defaultIOThreads = 8

    public init(limits: ResourceLimits, budgetBytes: Int, transferConcurrency: Int, ioThreads: Int) {
        self.limits = limits
        self.budgetBytes = budgetBytes
        self.transferConcurrency = transferConcurrency
        self.ioThreads = ioThreads
    }

    public static func make(_ limits: ResourceLimits) -> ResourcePlan {
        var budget = defaultBudget
        if let m = limits.memoryBytes {
            budget = min(budget, Int(Double(m) * limitShare) - processReserve)
        }
        budget = max(0, budget) & ~0xFFFF
        var concurrency = defaultConcurrency, io = defaultIOThreads
        if let cpu = limits.cpuCores {
            // Requests mostly wait on the network: a few per core hide the latency; more only
            // split the same CPU time into smaller slices (and throttled periods).
            concurrency = min(defaultConcurrency, max(2, Int((cpu * 8).rounded(.up))))
            io = min(defaultIOThreads, max(2, Int((cpu * 4).rounded(.up))))
        }
        return ResourcePlan(limits: limits, budgetBytes: budget, transferConcurrency: concurrency, ioThreads: io)
    }

    /// Free memory at the top of a malloc arena above this goes back to the system at once,
    /// whatever the limit. The idle trim (malloc_trim) returns the free pages inside every arena
    /// but shrinks only the main heap's top: a second arena's top goes back only when a free
    /// leaves more than this above it. With 16 MiB (the old unlimited setting) a sidecar kept
    /// 5-13 MiB of such free top resident after bursts, at random (a 30-minute soak: idle RSS
    /// +17%); with 2 MiB it stays at 2 MiB (+0.8%), and the default envelope's bench numbers
    /// were measured with it.
    public var heapTrimThreshold: Int { 2 << 20 }

    /// "budget 52 MiB, 4 transfers in flight, 2 I/O threads".
    public var summary: String {
        "transfer budget \(ResourceLimits.mebibytes(Int64(budgetBytes))), \(transferConcurrency) requests in flight per transfer, \(ioThreads) I/O threads"
    }

    /// Named in budget errors.
    public var origin: String {
        limits.memoryBytes.map { "from a memory limit of \(ResourceLimits.mebibytes($0))" } ?? "the default"
    }
}
