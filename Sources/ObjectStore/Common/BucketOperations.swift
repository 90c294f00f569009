import ArtifactCore
import Checksums
import Foundation
import PluginSupport
import StoreHTTP
import Transfer

/// The object operations S3 and OSS share (their REST APIs differ in headers and signatures,
/// which the dialect handles, not in these shapes).
extension ObjectStoreClient {
    var meta: String { dialect.headerPrefix }

    /// An operation whose body is an XML document we wrote (signed, with Content-MD5 when the
    /// store requires it).
    public static func xmlOperation(_ name: String, _ method: String, key: String? = nil, query: [(String, String)],
                                    xml: String, contentMD5: Bool) -> StoreOperation {
        let body = Array(xml.utf8)
        var op = StoreOperation(name, method, key: key)
        op.query = query
        op.body = .bytes(body)
        op.payloadHash = Digest.sha256(body).hex
        op.headers = [("Content-Type", "application/xml"), ("Content-Length", String(body.count))]
        if contentMD5 { op.headers.append(("Content-MD5", Data(Digest.md5(body)).base64EncodedString())) }
        return op
    }

    // MARK: objects

    public func headObject(_ key: String) async throws -> ObjectInfo? {
        var op = StoreOperation("HeadObject", "HEAD", key: key)
        op.accept = [404]
        op.encryption = .data
        let r = try await send(op)
        if r.status == 404 { return nil }
        return ObjectInfo(key: key, size: Int64(r.header("Content-Length") ?? "") ?? 0,
                          lastModified: r.header("Last-Modified").flatMap(HTTPDate.parseRFC1123) ?? 0,
                          etag: r.header("ETag"))
    }

    /// The raw HEAD answer (headers such as the store's whole-object checksum); nil at 404.
    public func headResponse(_ key: String) async throws -> HTTPResponse? {
        var op = StoreOperation("HeadObject", "HEAD", key: key)
        op.accept = [404]
        op.encryption = .data
        let r = try await send(op)
        return r.status == 404 ? nil : r
    }

    /// PutObject; `checks` let the store check the bytes (Content-MD5, a checksum header, the
    /// signed SHA-256), `verify` checks its answer (a mismatch sends the object again).
    public func putObject(_ key: String, body: OutgoingBody, checks: RequestChecks = .none, extraHeaders: [(String, String)] = [],
                          verify: (@Sendable (HTTPResponse) throws -> Void)? = nil) async throws -> HTTPResponse {
        var op = StoreOperation("PutObject", "PUT", key: key)
        op.encryption = .write
        op.body = body
        op.headers = extraHeaders + [("Content-Length", String(body.length))] + checks.headers
        op.payloadHash = checks.payloadHash
        op.verify = verify
        return try await send(op)
    }

    public func deleteObject(_ key: String) async throws {
        var op = StoreOperation("DeleteObject", "DELETE", key: key)
        op.accept = [404]
        op.cleanup = true
        _ = try await send(op)
    }

    /// Streamed GET of the object or of a range; `ifMatch` guards against a new version.
    public func getStream(_ key: String, range: ByteRange? = nil, ifMatch: String?, segment: Int) async throws -> HTTPStreamingResponse {
        var op = StoreOperation("GetObject", "GET", key: key)
        op.encryption = .data
        if let range {
            op.headers.append(("Range", "bytes=\(range.offset)-" + (range.length.map { String(range.offset + $0 - 1) } ?? "")))
        }
        if let ifMatch { op.headers.append(("If-Match", ifMatch)) }
        return try await stream(op, segment: segment)
    }

    // MARK: listing

    public struct ListPage: Sendable {
        public var objects: [ObjectInfo]
        public var commonPrefixes: [String]
        public var nextToken: String?
    }

    /// ListObjectsV2, one page; keys come URL-encoded (any byte survives XML) and are decoded.
    public func listObjectsV2(prefix: String, delimiter: String? = nil, token: String?, maxKeys: Int = 1000) async throws -> ListPage {
        var op = StoreOperation("ListObjectsV2", "GET")
        op.query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(maxKeys)), ("encoding-type", "url")]
        if let delimiter { op.query.append(("delimiter", delimiter)) }
        if let token { op.query.append(("continuation-token", token)) }
        op.payloadHash = SigV4Signer.emptyPayloadHash
        let r = try await send(op)
        let (records, fields) = try XMLReader.records(r.body, record: "Contents")
        let prefixes = try XMLReader.records(r.body, record: "CommonPrefixes").records.compactMap { $0["Prefix"].map(Self.urlDecode) }
        let objects = records.compactMap { rec -> ObjectInfo? in
            guard let k = rec["Key"] else { return nil }
            return ObjectInfo(key: Self.urlDecode(k), size: Int64(rec["Size"] ?? "") ?? 0,
                              lastModified: rec["LastModified"].flatMap(HTTPDate.parseISO8601) ?? 0, etag: rec["ETag"])
        }
        let truncated = fields["IsTruncated"] == "true"
        var next = truncated ? fields["NextContinuationToken"] : nil
        if dialect.encodesListTokens { next = next.map(Self.urlDecode) }
        if truncated && next == nil {
            throw StoreError(dialect: dialect.name, operation: "ListObjectsV2", location: locate(prefix), status: r.status,
                             code: "MissingContinuationToken", kind: .other, message: "listing is truncated but has no continuation token", requestID: nil)
        }
        return ListPage(objects: objects, commonPrefixes: prefixes, nextToken: next)
    }

    public func listAll(prefix: String) async throws -> [ObjectInfo] {
        var out: [ObjectInfo] = []
        var token: String?
        repeat {
            let page = try await listObjectsV2(prefix: prefix, token: token)
            out += page.objects
            token = page.nextToken
        } while token != nil
        return out
    }

    /// `encoding-type=url` decoding (S3 writes spaces as `+`).
    static func urlDecode(_ s: String) -> String {
        (s.replacingOccurrences(of: "+", with: " ")).removingPercentEncoding ?? s
    }

    // MARK: batch delete

    /// DeleteObjects (quiet) for ≤ 1000 keys; returns the keys the store could not delete, with why.
    public func deleteObjects(_ keys: [String]) async throws -> [(key: String, code: String, message: String)] {
        precondition(keys.count <= 1000)
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete><Quiet>true</Quiet>"
        for k in keys { xml += "<Object><Key>\(XMLReader.escape(k))</Key></Object>" }
        xml += "</Delete>"
        let r = try await send(Self.xmlOperation("DeleteObjects", "POST", query: [("delete", "")], xml: xml, contentMD5: true))
        let errors = try XMLReader.records(r.body, record: "Error").records
        return errors.map { (key: $0["Key"] ?? "?", code: Echo.clip($0["Code"] ?? "?", limit: 64, keep: .head),
                             message: Echo.clip($0["Message"] ?? "", limit: 256, keep: .head)) }
    }

    // MARK: multipart

    public func createMultipartUpload(_ key: String, extraHeaders: [(String, String)] = []) async throws -> String {
        var op = StoreOperation("CreateMultipartUpload", "POST", key: key)
        op.encryption = .write
        op.query = [("uploads", "")]
        op.headers = extraHeaders
        op.payloadHash = SigV4Signer.emptyPayloadHash
        let r = try await send(op)
        guard let id = try XMLReader.records(r.body, record: "__none__").fields["UploadId"], !id.isEmpty else {
            throw StoreError(dialect: dialect.name, operation: "CreateMultipartUpload", location: locate(key), status: r.status,
                             code: "MissingUploadId", kind: .other, message: "no UploadId in the answer", requestID: nil)
        }
        return id
    }

    /// UploadPart; the response carries the part's ETag (and checksum headers).
    /// `retriesDamaged: false` (the integrity probe): a BadDigest answer is the answer.
    public func uploadPart(_ key: String, uploadID: String, partNumber: Int, body: OutgoingBody, checks: RequestChecks,
                           retriesDamaged: Bool = true, verify: (@Sendable (HTTPResponse) throws -> Void)? = nil) async throws -> HTTPResponse {
        var op = StoreOperation("UploadPart", "PUT", key: key)
        op.encryption = .data
        op.query = [("partNumber", String(partNumber)), ("uploadId", uploadID)]
        op.body = body
        op.headers = [("Content-Length", String(body.length))] + checks.headers
        op.payloadHash = checks.payloadHash
        op.retriesDamaged = retriesDamaged
        op.verify = verify
        return try await send(op)
    }

    public struct CompletedPart: Sendable, Equatable {
        public var number: Int
        public var etag: String
        /// The part's checksum element (`ChecksumCRC32C`, base64) when the upload declared one.
        public var checksum: (name: String, value: String)?

        public init(number: Int, etag: String, checksum: (name: String, value: String)? = nil) {
            self.number = number
            self.etag = etag
            self.checksum = checksum
        }

        public static func == (a: Self, b: Self) -> Bool {
            a.number == b.number && a.etag == b.etag && a.checksum?.name == b.checksum?.name && a.checksum?.value == b.checksum?.value
        }
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [CompletedPart]) async throws -> HTTPResponse {
        var xml = "<CompleteMultipartUpload>"
        for p in parts.sorted(by: { $0.number < $1.number }) {
            xml += "<Part><PartNumber>\(p.number)</PartNumber><ETag>\(XMLReader.escape(p.etag))</ETag>"
            if let c = p.checksum { xml += "<\(c.name)>\(XMLReader.escape(c.value))</\(c.name)>" }
            xml += "</Part>"
        }
        xml += "</CompleteMultipartUpload>"
        var op = Self.xmlOperation("CompleteMultipartUpload", "POST", key: key, query: [("uploadId", uploadID)], xml: xml, contentMD5: false)
        // AWS wants a customer key on completion (and ListParts) when the upload declared a checksum.
        op.encryption = .data
        let r = try await send(op)
        // S3 may answer 200 with an error document when completion fails late.
        let f = try XMLReader.records(r.body, record: "__none__").fields
        if let code = f["Code"], f["ETag"] == nil {
            throw StoreError(dialect: dialect.name, operation: "CompleteMultipartUpload", location: locate(key), status: r.status,
                             code: code, kind: dialect.classify(code: code, status: 500), message: f["Message"] ?? "", requestID: f["RequestId"])
        }
        return r
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) async throws {
        var op = StoreOperation("AbortMultipartUpload", "DELETE", key: key)
        op.query = [("uploadId", uploadID)]
        op.accept = [404]
        op.cleanup = true
        _ = try await send(op)
    }

    public func listParts(_ key: String, uploadID: String) async throws -> [ListedPart] {
        var parts: [ListedPart] = []
        var marker: String?
        repeat {
            var op = StoreOperation("ListParts", "GET", key: key)
            op.encryption = .data
            op.query = [("uploadId", uploadID), ("max-parts", "1000")]
            if let marker { op.query.append(("part-number-marker", marker)) }
            op.payloadHash = SigV4Signer.emptyPayloadHash
            let r = try await send(op)
            let (recs, f) = try XMLReader.records(r.body, record: "Part")
            parts += recs.compactMap { rec in
                guard let n = rec["PartNumber"].flatMap({ Int($0) }), let e = rec["ETag"] else { return nil }
                return ListedPart(number: n, etag: e, size: Int64(rec["Size"] ?? "") ?? 0)
            }
            marker = f["IsTruncated"] == "true" ? f["NextPartNumberMarker"] : nil
        } while marker != nil
        return parts
    }

    public struct UploadInfo: Sendable {
        public var key: String
        public var uploadID: String
        /// Seconds since 1970.
        public var initiated: Int64
    }

    public func listMultipartUploads(prefix: String) async throws -> [UploadInfo] {
        var out: [UploadInfo] = []
        var keyMarker: String?, idMarker: String?
        repeat {
            var op = StoreOperation("ListMultipartUploads", "GET")
            op.query = [("uploads", ""), ("prefix", prefix), ("max-uploads", "1000"), ("encoding-type", "url")]
            if let keyMarker { op.query.append(("key-marker", keyMarker)) }
            if let idMarker { op.query.append(("upload-id-marker", idMarker)) }
            op.payloadHash = SigV4Signer.emptyPayloadHash
            let r = try await send(op)
            let (recs, f) = try XMLReader.records(r.body, record: "Upload")
            out += recs.compactMap { rec in
                guard let k = rec["Key"], let id = rec["UploadId"] else { return nil }
                return UploadInfo(key: Self.urlDecode(k), uploadID: id, initiated: rec["Initiated"].flatMap(HTTPDate.parseISO8601) ?? 0)
            }
            if f["IsTruncated"] == "true" {
                keyMarker = f["NextKeyMarker"].map(Self.urlDecode)
                idMarker = f["NextUploadIdMarker"]
                if keyMarker == nil { break }
            } else {
                keyMarker = nil
            }
        } while keyMarker != nil
        return out
    }

    // MARK: archived objects

    /// Starts restoring an archived object (already restoring counts as started), the way the
    /// dialect asks for it.
    public func restoreObject(_ key: String) async throws {
        var op = dialect.restoreOperation(key)
        op.accept = [409]      // RestoreAlreadyInProgress
        _ = try await send(op)
    }

    public enum RestoreState: Sendable { case pending, done, gone }

    /// Whether the restored copy can be read yet (`x-oss-restore` / `x-amz-restore` says so).
    public func restoreState(_ key: String) async throws -> RestoreState {
        var op = StoreOperation("HeadObject", "HEAD", key: key)
        op.accept = [404]
        op.encryption = .data
        let r = try await send(op)
        if r.status == 404 { return .gone }
        guard let state = r.header("\(meta)restore") else { return .pending }
        return state.contains("ongoing-request=\"false\"") ? .done : .pending
    }

    // MARK: bucket

    /// True when the bucket exists (and we may see it).
    public func bucketExists() async throws -> Bool {
        var op = StoreOperation("HeadBucket", "HEAD")
        op.accept = [404]
        return try await send(op).status != 404
    }

    public func createBucket(region: String?, headers: [(String, String)] = []) async throws {
        var op = StoreOperation("CreateBucket", "PUT")
        if let region, region != "us-east-1", region != "default" {
            op = Self.xmlOperation("CreateBucket", "PUT", query: [], xml: "<CreateBucketConfiguration><LocationConstraint>\(XMLReader.escape(region))</LocationConstraint></CreateBucketConfiguration>", contentMD5: false)
        } else {
            op.payloadHash = SigV4Signer.emptyPayloadHash
        }
        op.headers += headers
        op.accept = [409]   // BucketAlreadyOwnedByYou / created meanwhile
        _ = try await send(op)
    }
}
