import ArtifactCore
import PluginSupport
import StoreHTTP

/// What a request is to the object's server-side encryption.
public enum EncryptionRole: Sendable {
    /// Nothing to say (listings, deletes, completions).
    case none
    /// Creates the object (PutObject, CreateMultipartUpload): asks for the encryption.
    case write
    /// Sends or reads the object's data (UploadPart, GetObject, HeadObject): a customer key
    /// goes on each.
    case data
}

/// The encryption a store applies to the objects it writes, as a configuration asks for it:
/// which headers each request carries (the dialect's business), and whether the store's answer
/// shows it did what was asked. A store that says nothing of the encryption asked for (Ceph 16
/// takes SSE-S3 and stores plaintext) fails the Save: never a silent plaintext object.
public protocol ServerSideEncryption: Sendable {
    /// "SSE-KMS with key testkey-1", for messages.
    var summary: String { get }
    /// What is asked, never key material: part of a checkpoint's identity, so an upload begun
    /// with other encryption is not resumed into.
    var fingerprint: String { get }
    /// Makes whatever the requests on `key` need ready and keeps it until `release`: called
    /// before a transfer claims any memory, since preparing may claim some itself (SSE-C).
    func retain(_ key: String) async throws
    func release(_ key: String)
    func headers(_ role: EncryptionRole, key: String) async throws -> [(String, String)]
    /// nil when `response` (to a write, or a HEAD of the finished object) reports the encryption
    /// asked for; otherwise what it reports instead.
    func mismatch(_ response: HTTPResponse) -> String?
}

extension ServerSideEncryption {
    public func retain(_ key: String) async throws {}
    public func release(_ key: String) {}
}

/// The store wrote the object without the encryption asked for.
public struct EncryptionNotApplied: CategorizedError, CustomStringConvertible, Sendable {
    public var location: String
    public var asked: String
    public var reported: String
    /// What happened to the object written: removed, or never written (the probe).
    public var outcome: String
    public var category: FailureCategory { .failedPrecondition }
    public var description: String {
        "the store ignored server-side encryption for \(location): asked for \(asked), its answer reports \(reported); \(outcome)"
    }
}
