import Foundation

/// `argo-artifact-plugin gc`: removes objects under a prefix older than a threshold, and
/// unfinished uploads older than another: what workflows deleted without GC, and uploads
/// abandoned mid-way, leave behind.
public struct Sweeper: Sendable {
    public struct Options: Sendable {
        public var prefix: String
        public var olderThan: Duration
        public var abortUploadsOlderThan: Duration?
        public var dryRun: Bool
        public var now: Int64
        public init(prefix: String, olderThan: Duration, abortUploadsOlderThan: Duration?, dryRun: Bool, now: Int64) {
            self.prefix = prefix
            self.olderThan = olderThan
            self.abortUploadsOlderThan = abortUploadsOlderThan
            self.dryRun = dryRun
            self.now = now
        }
    }

    public struct Summary: Sendable, Equatable {
        public var scanned = 0
        public var objects = 0
        public var bytes: Int64 = 0
        public var uploads = 0
    }

    public let store: ArtifactStore
    public let say: @Sendable (String) -> Void

    public init(store: ArtifactStore, say: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.say = say
    }

    public func run(_ o: Options) async throws -> Summary {
        var s = Summary()
        let cutoff = o.now - o.olderThan.components.seconds
        let verb = o.dryRun ? "would delete" : "deleting"
        say("sweeping \(store.locate(o.prefix)): objects older than \(Self.describe(o.olderThan))\(o.dryRun ? " (dry run)" : "")")
        let objects = try await store.list(prefix: o.prefix)
        s.scanned = objects.count
        let old = objects.filter { $0.lastModified < cutoff }
        for batch in stride(from: 0, to: old.count, by: 1000).map({ Array(old[$0..<min($0 + 1000, old.count)]) }) {
            for obj in batch { say("\(verb) \(obj.key) (\(Quantities.formatBytes(obj.size)), \(Self.age(obj.lastModified, now: o.now)) old)") }
            if !o.dryRun { try await store.delete(batch.map(\.key)) }
            s.objects += batch.count
            s.bytes += batch.reduce(0) { $0 + $1.size }
            say("progress: \(s.objects) of \(old.count) old objects \(o.dryRun ? "listed" : "deleted")")
        }
        if let t = o.abortUploadsOlderThan {
            let uploadCutoff = o.now - t.components.seconds
            for u in try await store.staleUploads(prefix: o.prefix, before: uploadCutoff) {
                say("\(o.dryRun ? "would abort" : "aborting") unfinished upload of \(u.key) (started \(Self.age(u.started, now: o.now)) ago)")
                if !o.dryRun { try await store.abort(u) }
                s.uploads += 1
            }
        }
        say("summary: \(s.scanned) object(s) scanned, \(s.objects) \(o.dryRun ? "would be" : "") deleted (\(Quantities.formatBytes(s.bytes))), \(s.uploads) unfinished upload(s) \(o.dryRun ? "would be " : "")aborted")
        return s
    }

    static func describe(_ d: Duration) -> String {
        let s = d.components.seconds
        if s % 86400 == 0 { return "\(s / 86400)d" }
        if s % 3600 == 0 { return "\(s / 3600)h" }
        return "\(s)s"
    }

    static func age(_ t: Int64, now: Int64) -> String {
        let d = max(0, now - t)
        return d >= 86400 ? "\(d / 86400)d" : d >= 3600 ? "\(d / 3600)h" : "\(d)s"
    }
}
