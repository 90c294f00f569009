import ArtifactCore
import Checksums
import PluginSupport
import Synchronization
@testable import Transfer

/// A test double of an object store for the engines (named as one: the real stores are tested
/// through the binary against RGW and the OSS double). Objects and multipart uploads live in
/// memory; calls are counted; faults can be planted.
final class InMemoryTransport: PartTransport, Sendable {
    struct Upload: Sendable {
        var key: String
        var parts: [Int: [UInt8]] = [:]
    }
    struct State: Sendable {
        var objects: [String: [UInt8]] = [:]
        var uploads: [String: Upload] = [:]
        var nextUpload = 0
        var calls: [String: Int] = [:]
        /// Part numbers whose next upload is cancelled (the call interrupted: shutdown, client gone).
        var cancelPartOnce: Set<Int> = []
        /// Part numbers whose next upload fails for good (the store's answer after every retry).
        var failPartOnce: Set<Int> = []
        /// GETs whose body breaks after this many bytes (once each).
        var dropGetAfter: [Int] = []
    }
    let state = Locked(State())
    let limits: PartLimits
    /// What single PUTs and the parts of new uploads carry.
    let objectChecksums: ChecksumSet
    let partChecksums: ChecksumSet
    var downloadChecksum: ChecksumSet { .crc64 }
    var transportID: String { "mem://test/bucket" }
    /// Small, so the engines' tiny test budgets still let a few requests run at once.
    var fileUploadMemory: Int { 1 << 10 }
    func downloadMemory(segment: Int) -> Int { 1 << 10 }

    init(limits: PartLimits = PartLimits(minPartSize: 1 << 10, maxPartSize: 1 << 30, maxParts: 10_000, maxSinglePut: 1 << 30,
                                         maxObjectSize: 1 << 40, storeName: "memory"),
         checksums: ChecksumSet = [.md5, .crc64]) {
        self.limits = limits
        objectChecksums = checksums
        partChecksums = checksums
    }

    func locate(_ key: String) -> String { "mem://bucket/\(key)" }
    func count(_ name: String) -> Int { state.withLock { $0.calls[name] ?? 0 } }
    private func called(_ name: String) { state.withLock { $0.calls[name, default: 0] += 1 } }

    static func bytes(_ body: OutgoingBody) throws -> [UInt8] {
        switch body {
        case .none: return []
        case .bytes(let b): return Array(b)
        case .file(let fd, let offset, let length):
            var out = [UInt8](repeating: 0, count: Int(length))
            let n = try out.withUnsafeMutableBytes { try fd.read(into: $0, at: offset) }
            return Array(out[..<n])
        }
    }

    func putObject(_ key: String, body: OutgoingBody, checksums: PartChecksums) async throws {
        called("PutObject")
        let data = try Self.bytes(body)
        guard PartChecksums.compute(data[...], objectChecksums) == checksums else { throw ArtifactError.corrupted("put of \(key)") }
        state.withLock { $0.objects[key] = data }
    }

    func createUpload(_ key: String) async throws -> NewUpload {
        called("CreateMultipartUpload")
        let id = state.withLock { s in
            s.nextUpload += 1
            let id = "upload-\(s.nextUpload)"
            s.uploads[id] = Upload(key: key)
            return id
        }
        return NewUpload(id: id, checksums: partChecksums)
    }

    struct Dropped: Error {}

    func uploadPart(_ key: String, uploadID: String, number: Int, body: OutgoingBody, checksums: PartChecksums) async throws -> UploadedPart {
        called("UploadPart")
        if state.withLock({ $0.cancelPartOnce.remove(number) != nil }) { throw CancellationError() }
        if state.withLock({ $0.failPartOnce.remove(number) != nil }) { throw ArtifactError.store("SlowDown after every retry") }
        let data = try Self.bytes(body)
        // The part's checksums are checked against its bytes (the engine also adds CRC-64 for its log).
        guard PartChecksums.compute(data[...], checksums.set) == checksums, checksums.set.isSuperset(of: partChecksums) else {
            throw ArtifactError.corrupted("part \(number)")
        }
        return try state.withLock { s in
            guard s.uploads[uploadID] != nil else { throw ArtifactError.store("NoSuchUpload") }
            s.uploads[uploadID]!.parts[number] = data
            return UploadedPart(number: number, etag: "\"\(Digest.md5(data).hex)\"", length: Int64(data.count), checksums: checksums)
        }
    }

    func completeUpload(_ key: String, uploadID: String, parts: [UploadedPart]) async throws {
        called("CompleteMultipartUpload")
        try state.withLock { s in
            guard let u = s.uploads.removeValue(forKey: uploadID) else { throw ArtifactError.store("NoSuchUpload") }
            s.objects[key] = parts.sorted { $0.number < $1.number }.flatMap { u.parts[$0.number] ?? [] }
        }
    }

    func abortUpload(_ key: String, uploadID: String) async throws {
        called("AbortMultipartUpload")
        _ = state.withLock { $0.uploads.removeValue(forKey: uploadID) }
    }

    func listParts(_ key: String, uploadID: String) async throws -> [ListedPart]? {
        called("ListParts")
        return state.withLock { s in
            s.uploads[uploadID].map { u in u.parts.map { ListedPart(number: $0.key, etag: "\"\(Digest.md5($0.value).hex)\"", size: Int64($0.value.count)) } }
        }
    }

    func getObject(_ key: String, range: ByteRange?, ifMatch: String?, segment: Int) async throws -> any ObjectBodyStream {
        called("GetObject")
        let (data, drop) = try state.withLock { s -> ([UInt8], Int?) in
            guard let d = s.objects[key] else { throw ArtifactError.notFound(key) }
            return (d, s.dropGetAfter.isEmpty ? nil : s.dropGetAfter.removeFirst())
        }
        let start = Int(range?.offset ?? 0)
        let end = range?.length.map { start + Int($0) } ?? data.count
        let body = Array(data[start..<end])
        return MemoryBody(bytes: body, segment: segment, dropAfter: drop,
                          info: ObjectBodyInfo(bodyLength: Int64(body.count), objectSize: Int64(data.count), etag: "e",
                                               lastModified: 0, objectCRC64: CRC64.checksum(data)))
    }

    func retryPause(after error: any Error, attempt: Int) -> Duration? {
        attempt < 3 && error is Dropped ? .milliseconds(1) : nil
    }

    func failureKind(_ error: any Error) -> TransferFailureKind {
        switch error {
        case is Dropped: return .connectionDropped
        case is CancellationError: return .interrupted
        default: return .other
        }
    }

    var objects: [String: [UInt8]] { state.withLock { $0.objects } }
    var openUploads: Int { state.withLock { $0.uploads.count } }
}

final class MemoryBody: ObjectBodyStream, Sendable {
    let bytes: [UInt8]
    let segment: Int
    let dropAfter: Int?
    let info: ObjectBodyInfo
    private let offset = Locked(0)

    init(bytes: [UInt8], segment: Int, dropAfter: Int?, info: ObjectBodyInfo) {
        self.bytes = bytes
        self.segment = segment
        self.dropAfter = dropAfter
        self.info = info
    }

    func next() async throws -> [UInt8]? {
        try offset.withLock { o -> [UInt8]? in
            if let d = dropAfter, o >= d { throw InMemoryTransport.Dropped() }
            guard o < bytes.count else { return nil }
            let n = min(segment, bytes.count - o, dropAfter.map { max(1, $0 - o) } ?? Int.max)
            defer { o += n }
            return Array(bytes[o..<(o + n)])
        }
    }

    func cancel() {}
}
