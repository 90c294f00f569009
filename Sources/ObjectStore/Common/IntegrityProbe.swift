import Checksums
import Logging
import PluginSupport
import StoreHTTP
import Transfer

/// Learns which check a store enforces on the parts of an upload, once per store and process.
/// S3 stores differ, and a check a store ignores is no check: RGW 16 refuses a wrong signed
/// SHA-256 but ignores `x-amz-checksum-*`; SeaweedFS refuses a wrong CRC-32C but stores a body
/// whose signed SHA-256 is wrong; AWS S3, MinIO and Ceph ≥ 20 verify CRC-32C.
///
/// Each candidate gets a throw-away multipart upload on the artifact's own key (the permissions
/// a Save needs anyway; no object is ever created): a small part with a deliberately wrong
/// checksum must be refused as damaged, the same part with the right one accepted, and the
/// upload is aborted. CRC-32C (in hardware, next to free) wins over SHA-256 (SHA-NI, about
/// 2 GB/s); when neither is proven, parts carry Content-MD5, which every store verifies. A probe
/// that could not decide (the store unreachable, a refusal for another reason) is not
/// remembered: this upload uses Content-MD5, and the next one asks again.
public final class IntegrityProbe: Sendable {
    public static let shared = IntegrityProbe()

    private let learned = Locked<[String: ChecksumSet]>([:])
    private let announced = Locked(Set<String>())
    private let flights = SingleFlight<String, ChecksumSet?>()

    public init() {}

    /// How many probes ran (tests).
    public var probeCount: Int { flights.callCount }

    /// The checks for the parts of an upload to `key` through `client` (`storeID`: scheme,
    /// endpoint and bucket).
    public func partChecks(client: ObjectStoreClient, key: String, storeID: String) async -> ChecksumSet {
        if let known = learned.withLock({ $0[storeID] }) { return known }
        let result = (try? await flights.run(storeID) { await Self.probe(client: client, key: key) }) ?? nil
        guard let result else {
            Log.transfer.notice("part integrity for \(storeID): md5 for this upload (the store's checks could not be learned; asking again next time)")
            return .md5
        }
        let first = learned.withLock { m -> Bool in
            defer { m[storeID] = result }
            return m[storeID] == nil
        }
        if first {
            let why = result == .md5 ? "the store enforces neither CRC-32C nor a signed SHA-256; Content-MD5 it does"
                : "the store refused a deliberately wrong \(result == .crc32c ? "CRC-32C" : "signed SHA-256") and accepted the right one"
            Log.transfer.info("part integrity for \(storeID): \(result) (\(why))")
        }
        return result
    }

    /// Logs, once per store and process, the checks a store's parts got without a probe.
    public func announce(_ set: ChecksumSet, storeID: String, reason: String) {
        guard announced.withLock({ $0.insert(storeID).inserted }) else { return }
        Log.transfer.info("part integrity for \(storeID): \(set) (\(reason))")
    }

    enum Verdict: Equatable {
        /// A wrong value refused as damaged, the right one accepted.
        case enforced
        /// A wrong value accepted, or the check refused outright (unsupported).
        case notEnforced
        /// No answer worth keeping (unreachable, forbidden, a server error).
        case unknown
    }

    static func probe(client: ObjectStoreClient, key: String) async -> ChecksumSet? {
        async let crc32c = verdict(.crc32c, client: client, key: key)
        async let sha256 = verdict(.sha256, client: client, key: key)
        let (c, s) = await (crc32c, sha256)
        if c == .enforced { return .crc32c }
        if s == .enforced { return .sha256 }
        if c == .notEnforced && s == .notEnforced { return .md5 }
        return nil
    }

    static let body = Array("argo-artifact-plugin: which checks does this store enforce?".utf8)

    /// The right checksums of the probe body, and deliberately wrong ones.
    static func probeChecksums(_ check: ChecksumSet) -> (right: PartChecksums, wrong: PartChecksums) {
        let right = PartChecksums.compute(body[...], check)
        var wrong = right
        if let v = wrong.crc32c { wrong.crc32c = v ^ 1 }
        if let v = wrong.crc32 { wrong.crc32 = v ^ 1 }
        if wrong.sha256 != nil { wrong.sha256 = Digest.sha256(body + [0]) }
        return (right, wrong)
    }

    static func verdict(_ check: ChecksumSet, client: ObjectStoreClient, key: String) async -> Verdict {
        let id: String
        do {
            id = try await client.createMultipartUpload(key, extraHeaders: client.dialect.checksumWire.createHeaders(check))
        } catch {
            return .unknown
        }
        let verdict = await answers(check, client: client, key: key, uploadID: id)
        // The upload never becomes an object; it is aborted whatever the verdict.
        await Cleanup.run("abort the integrity probe's upload of \(client.locate(key))") {
            try await client.abortMultipartUpload(key, uploadID: id)
        }
        return verdict
    }

    private static func answers(_ check: ChecksumSet, client: ObjectStoreClient, key: String, uploadID id: String) async -> Verdict {
        let wire = client.dialect.checksumWire
        let (right, wrong) = probeChecksums(check)
        let refusedWrong: Verdict
        do {
            _ = try await client.uploadPart(key, uploadID: id, partNumber: 1, body: .bytes(body), checks: wire.requestChecks(wrong), retriesDamaged: false)
            refusedWrong = .notEnforced
        } catch let e as StoreError where e.kind == .badDigest {
            refusedWrong = .enforced
        } catch let e as StoreError where e.status == 400 || e.status == 501 {
            return .notEnforced     // InvalidRequest, InvalidArgument, NotImplemented: not supported
        } catch {
            return .unknown
        }
        guard refusedWrong == .enforced else { return .notEnforced }
        do {
            let r = try await client.uploadPart(key, uploadID: id, partNumber: 1, body: .bytes(body), checks: wire.requestChecks(right), retriesDamaged: false)
            try wire.verify(r, right, what: "integrity probe")
            return .enforced
        } catch let e as StoreError where e.status == 400 {
            return .notEnforced
        } catch {
            return .unknown
        }
    }
}
