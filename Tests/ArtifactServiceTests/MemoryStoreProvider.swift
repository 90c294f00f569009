import ArtifactCore
import Foundation
import PluginSupport
import StoreRuntime

/// A store module that exists only in the tests (a double: objects in a dictionary), to show what
/// adding a provider takes: this file, and one line in the provider table the service is given.
/// Its own field is `quota` (bytes it holds at most); its own error says its category.
struct MemoryStoreProvider: StoreProvider {
    let name = "memory"
    let isRemote = false
    let summary = "keeps objects in the plugin's memory"
    let fields = ["quota"]
    let checksums: [MultipartSettings.ChecksumKind] = [.auto, .none]

    func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool { fields.has("quota") }

    func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        MemoryStoreSettings(quota: try fields.size("quota", min: 1) ?? 1 << 20)
    }

    func makeStore(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        MemoryStore(quota: c.storeSettings(MemoryStoreSettings.self)!.quota, io: environment.io)
    }
}

struct MemoryStoreSettings: StoreSettings {
    var quota: Int64
    var yamlFields: [(String, String?)] { [("quota", String(quota))] }
}

struct MemoryStoreFull: CategorizedError, CustomStringConvertible {
    let needed: Int64, quota: Int64
    var category: FailureCategory { .resourceExhausted }
    var description: String { "the memory store holds \(quota) bytes at most; this object needs \(needed)" }
}

final class MemoryStore: ArtifactStore {
    private let objects = Locked([String: [UInt8]]())
    let quota: Int64
    let io: IOPool

    init(quota: Int64, io: IOPool) {
        self.quota = quota
        self.io = io
    }

    var displayName: String { "memory://" }
    func locate(_ key: String) -> String { "memory://\(key)" }

    func head(_ key: String) async throws -> ObjectInfo? {
        objects.withLock { $0[key] }.map { ObjectInfo(key: key, size: Int64($0.count), lastModified: 0) }
    }

    func list(prefix: String) async throws -> [ObjectInfo] {
        objects.withLock { o in o.filter { $0.key.hasPrefix(prefix) }.map { ObjectInfo(key: $0.key, size: Int64($0.value.count), lastModified: 0) } }
            .sorted { $0.key < $1.key }
    }

    func hasObjects(prefix: String) async throws -> Bool { try await !list(prefix: prefix).isEmpty }

    private func put(_ bytes: [UInt8], _ key: String) throws {
        try objects.withLock { o in
            let held = o.filter { $0.key != key }.values.reduce(0) { $0 + Int64($1.count) }
            guard held + Int64(bytes.count) <= quota else { throw MemoryStoreFull(needed: Int64(bytes.count), quota: quota) }
            o[key] = bytes
        }
    }

    func upload(file path: String, to key: String) async throws {
        let bytes = try await io.run { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }
        try put(bytes, key)
    }

    func uploadDirectory(_ files: [LocalFile], to key: String) async throws {
        for f in files {
            if let p = f.path { try await upload(file: p, to: key + "/" + f.relativeKey) } else { try put([], key + "/" + f.relativeKey) }
        }
    }

    func upload(stream: ByteChunkSource, to key: String) async throws -> Int64 {
        var all = [UInt8]()
        while let d = try await stream.next() { all += d }
        try put(all, key)
        return Int64(all.count)
    }

    func download(_ object: ObjectInfo, to path: String) async throws {
        guard let bytes = objects.withLock({ $0[object.key] }) else { throw ArtifactError.notFound(locate(object.key)) }
        try await io.run { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
    }

    func read(_ object: ObjectInfo, chunkSize: Int, into sink: ByteSink) async throws {
        guard let bytes = objects.withLock({ $0[object.key] }) else { throw ArtifactError.notFound(locate(object.key)) }
        var i = 0
        while i < bytes.count {
            try await sink.send(Array(bytes[i..<min(i + chunkSize, bytes.count)]))
            i += chunkSize
        }
    }

    func delete(_ keys: [String]) async throws { objects.withLock { o in for k in keys { o[k] = nil } } }
    func abortUploads(prefix: String) async throws -> Int { 0 }
    func staleUploads(prefix: String, before cutoff: Int64) async throws -> [StaleUpload] { [] }
    func abort(_ upload: StaleUpload) async throws {}
}
