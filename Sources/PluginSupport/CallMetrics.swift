import Synchronization

/// What one RPC did below the service, counted where it happens and read when its log line is
/// written: the parts (or ranges) it moved and the requests it had to send again. A task local
/// carries it into every task the call starts (task groups inherit it); outside a call nothing
/// is counted.
public final class CallMetrics: Sendable {
    @TaskLocal public static var current: CallMetrics?

    private let partCount = Atomic<Int>(0)
    private let retryCount = Atomic<Int>(0)

    public init() {}

    public var parts: Int { partCount.load(ordering: .relaxed) }
    public var retries: Int { retryCount.load(ordering: .relaxed) }

    /// A part uploaded or a range downloaded.
    public static func countPart() { current?.partCount.add(1, ordering: .relaxed) }
    /// A request sent again (a transient failure, a damaged body, a resumed stream).
    public static func countRetry() { current?.retryCount.add(1, ordering: .relaxed) }
}
