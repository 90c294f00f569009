import ArtifactCore
import Foundation
import PluginSupport
import Synchronization

/// Progress of one transfer: a line every 5 s once it has run 30 s, and one summary at the end.
/// The periodic lines come from a child task of `track`, which ends with the transfer.
public final class TransferProgress: Sendable {
    private let what: String
    private let total: Int64?
    private let totalParts: Int?
    private let started = ContinuousClock.now
    private let state = Locked((bytes: Int64(0), parts: 0, retries: 0))

    public init(_ what: String, total: Int64?, parts: Int?) {
        self.what = what
        self.total = total
        self.totalParts = parts
    }

    public func add(bytes: Int64, part: Bool = true) { state.withLock { $0.bytes += bytes; if part { $0.parts += 1 } } }
    public func retried() { state.withLock { $0.retries += 1 } }
    public var retries: Int { state.withLock { $0.retries } }

    /// Runs `body` with periodic progress lines beside it.
    public func track<T>(_ body: () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                do {
                    try await Timers.sleep(for: .seconds(30))
                    while true {
                        report()
                        try await Timers.sleep(for: .seconds(5))
                    }
                } catch {
                    return   // cancelled: the transfer ended
                }
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    private var elapsed: Double {
        let d = ContinuousClock.now - started
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func report() {
        let s = state.withLock { $0 }
        let rate = Double(s.bytes) / max(elapsed, 0.001) / 1048576
        var line = "\(what): \(Quantities.formatBytes(s.bytes))"
        if let total {
            line += " of \(Quantities.formatBytes(total)) (\(total == 0 ? 100 : Int(Double(s.bytes) * 100 / Double(total)))%)"
            if rate > 0 { line += ", ETA \(Int(Double(total - s.bytes) / 1048576 / rate))s" }
        }
        line += String(format: ", %.1f MiB/s", rate)
        if let totalParts { line += ", parts \(s.parts)/\(totalParts)" }
        if s.retries > 0 { line += ", \(s.retries) retries" }
        Log.transfer.info("\(line)")
    }

    /// The summary line.
    public func finish(_ outcome: String) {
        let s = state.withLock { $0 }
        let rate = Double(s.bytes) / max(elapsed, 0.001) / 1048576
        Log.transfer.info("\(what) \(outcome): \(Quantities.formatBytes(s.bytes)) in \(String(format: "%.2f", elapsed))s (\(String(format: "%.1f", rate)) MiB/s)\(totalParts.map { ", \($0) parts" } ?? "")\(s.retries > 0 ? ", \(s.retries) retries" : "")")
    }
}
