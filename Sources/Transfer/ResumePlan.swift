import ArtifactCore

/// Whether a logged upload can go on: decided from the log, the local file as it is now, and what
/// the store still holds. Pure; the engine does the I/O.
public enum ResumePlan {
    public enum Start: Equatable, Sendable {
        /// No log: a new upload.
        case fresh
        /// The log is for another version of the file (or another part size, or store): its
        /// upload is aborted and a new one starts.
        case abandon(uploadID: String, reason: String)
        /// The log fits: ask the store which parts it holds.
        case check(uploadID: String)
    }

    public static func start(log: PartLogContents?, source: SourceIdentity, partSize: Int64, transport: String) -> Start {
        guard let log else { return .fresh }
        let h = log.header
        if h.transport != transport { return .abandon(uploadID: h.uploadID, reason: "the checkpoint is for another store") }
        if h.source != source { return .abandon(uploadID: h.uploadID, reason: "the source changed since the checkpoint") }
        if h.partSize != partSize { return .abandon(uploadID: h.uploadID, reason: "the part size changed since the checkpoint") }
        return .check(uploadID: h.uploadID)
    }

    /// The logged parts the store still holds, with the same ETag and the planned size. Their
    /// bytes must still be checked against the file before they count as done.
    public static func candidates(logged: [Int: UploadedPart], listed: [ListedPart], plan: PartPlan) -> [UploadedPart] {
        let held = Dictionary(listed.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
        return logged.values.filter { p in
            guard p.number >= 1, p.number <= plan.partCount, let l = held[p.number] else { return false }
            let want = plan.range(p.number).length
            return l.etag == p.etag && l.size == want && p.length == want
        }.sorted { $0.number < $1.number }
    }
}
