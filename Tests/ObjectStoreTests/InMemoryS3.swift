import Checksums
import Foundation
import PluginSupport
import Synchronization
@testable import StoreHTTP

/// A test double of one S3 bucket behind `HTTPTransport`, in memory: objects, multipart uploads,
/// listing, batch delete, answered as S3 answers them (XML, ETags = MD5). It exists so unit
/// tests reach the store's retry loop and recovery paths without a server; the integration
/// suite runs the same paths against Ceph RGW. `fault` sees every request first and may answer
/// instead, answer differently after doing the work (a lost answer), or fail the connection.
final class InMemoryS3: HTTPTransport {
    struct Call: Sendable {
        var method: String
        var key: String?
        var query: [String: String]
        /// How many requests with this method, key and query names came before this one.
        var earlier: Int
        var name: String {
            switch (method, key != nil) {
            case ("POST", false) where query["delete"] != nil: return "DeleteObjects"
            case ("GET", false): return query["uploads"] != nil ? "ListMultipartUploads" : "ListObjectsV2"
            case ("POST", true) where query["uploads"] != nil: return "CreateMultipartUpload"
            case ("POST", true) where query["uploadId"] != nil: return "CompleteMultipartUpload"
            case ("PUT", true) where query["uploadId"] != nil: return "UploadPart"
            case ("DELETE", true) where query["uploadId"] != nil: return "AbortMultipartUpload"
            case ("GET", true) where query["uploadId"] != nil: return "ListParts"
            case ("PUT", true): return "PutObject"
            case ("HEAD", true): return "HeadObject"
            case ("DELETE", true): return "DeleteObject"
            default: return "\(method) \(key ?? "/")"
            }
        }
    }

    enum Fault: Sendable {
        /// Answer this; the request does nothing.
        case instead(HTTPResponse)
        /// Do the work, then answer this (the client never learns that it worked).
        case after(HTTPResponse)
        /// The connection fails before an answer.
        case fail(HTTPClientError)
    }

    struct Object: Sendable {
        var bytes: [UInt8]
        var etag: String
    }

    private struct State {
        var objects: [String: Object] = [:]
        var uploads: [String: (key: String, parts: [Int: [UInt8]])] = [:]
        var nextUpload = 0
        var calls: [Call] = []
        var fault: (@Sendable (Call) -> Fault?)?
    }
    // Locked, not a bare Mutex: ThreadSanitizer sees its hand-offs (make test-tsan).
    private let state = Locked(State())
    let bucket: String

    init(bucket: String = "bkt") { self.bucket = bucket }

    var fault: (@Sendable (Call) -> Fault?)? {
        get { state.withLock { $0.fault } }
        set { state.withLock { $0.fault = newValue } }
    }

    var calls: [Call] { state.withLock { $0.calls } }
    func calls(_ name: String) -> [Call] { calls.filter { $0.name == name } }
    var keys: [String] { state.withLock { $0.objects.keys.sorted() } }
    func object(_ key: String) -> Object? { state.withLock { $0.objects[key] } }
    var openUploads: Int { state.withLock { $0.uploads.count } }
    func put(_ key: String, _ bytes: [UInt8]) {
        state.withLock { $0.objects[key] = Object(bytes: bytes, etag: "\"\(Digest.md5(bytes).hex)\"") }
    }

    // MARK: HTTPTransport

    func execute(_ request: HTTPRequest, limit: Int, options: HTTPTransportOptions) async throws -> HTTPResponse {
        let body = try await Self.collect(request.body)
        guard let url = URLComponents(string: request.url) else { throw HTTPClientError(kind: .other, message: "bad URL \(request.url)") }
        var path = url.percentEncodedPath.removingPercentEncoding ?? url.percentEncodedPath
        precondition(path.hasPrefix("/\(bucket)"), "the double serves /\(bucket) only (path-style)")
        path.removeFirst(bucket.count + 1)
        let key = path.count > 1 ? String(path.dropFirst()) : nil
        let query = Dictionary((url.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { a, _ in a })
        let (call, fault) = state.withLock { s -> (Call, (@Sendable (Call) -> Fault?)?) in
            let earlier = s.calls.filter { $0.method == request.method && $0.key == key && Set($0.query.keys) == Set(query.keys) }.count
            let c = Call(method: request.method, key: key, query: query, earlier: earlier)
            s.calls.append(c)
            return (c, s.fault)
        }
        switch fault?(call) {
        case .instead(let r)?: return r
        case .fail(let e)?: throw e
        case .after(let r)?:
            _ = answer(call, body: body)
            return r
        case nil:
            return answer(call, body: body)
        }
    }

    func stream(_ request: HTTPRequest, segment: Int, options: HTTPTransportOptions) async throws -> HTTPStreamingResponse {
        throw HTTPClientError(kind: .other, message: "the in-memory S3 double answers no streamed GETs")
    }

    /// A request body as bytes (a file region read whole).
    static func collect(_ body: OutgoingBody) async throws -> [UInt8] {
        switch body {
        case .none: return []
        case .bytes(let b): return Array(b)
        case .file(let fd, let offset, let length):
            var out = [UInt8](repeating: 0, count: Int(length))
            let n = try out.withUnsafeMutableBytes { try fd.read(into: $0, at: offset) }
            precondition(n == Int(length), "the file body gave \(n) bytes of \(length)")
            return out
        }
    }

    // MARK: S3

    static func error(_ status: Int, _ code: String, _ message: String = "") -> HTTPResponse {
        xml("<Error><Code>\(code)</Code><Message>\(message)</Message><RequestId>double</RequestId></Error>", status: status)
    }

    static func xml(_ text: String, status: Int = 200, headers: [(String, String)] = []) -> HTTPResponse {
        let b = Array(("<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + text).utf8)
        return HTTPResponse(status: status, headers: [("Content-Type", "application/xml")] + headers, body: b, bodyLength: Int64(b.count))
    }

    private static let empty = HTTPResponse(status: 200, headers: [], body: [], bodyLength: 0)

    private func answer(_ c: Call, body: [UInt8]) -> HTTPResponse {
        state.withLock { s in
            switch c.name {
            case "PutObject":
                let etag = "\"\(Digest.md5(body).hex)\""
                s.objects[c.key!] = Object(bytes: body, etag: etag)
                return HTTPResponse(status: 200, headers: [("ETag", etag)], body: [], bodyLength: 0)
            case "HeadObject":
                guard let o = s.objects[c.key!] else { return HTTPResponse(status: 404, headers: [], body: [], bodyLength: 0) }
                return HTTPResponse(status: 200, headers: [("Content-Length", String(o.bytes.count)), ("ETag", o.etag),
                                                           ("Last-Modified", "Fri, 04 Dec 2026 00:00:00 GMT")], body: [], bodyLength: 0)
            case "DeleteObject":
                s.objects[c.key!] = nil
                return HTTPResponse(status: 204, headers: [], body: [], bodyLength: 0)
            case "DeleteObjects":
                let text = String(decoding: body, as: UTF8.self)
                for piece in text.components(separatedBy: "<Key>").dropFirst() {
                    let k = piece.components(separatedBy: "</Key>")[0]
                        .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
                        .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
                        .replacingOccurrences(of: "&amp;", with: "&")
                    s.objects[k] = nil
                }
                return Self.xml("<DeleteResult></DeleteResult>")
            case "ListObjectsV2":
                let prefix = c.query["prefix"] ?? ""
                let rows = s.objects.keys.filter { $0.hasPrefix(prefix) }.sorted().map { k in
                    "<Contents><Key>\(k.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(.init(charactersIn: "+&"))) ?? k)</Key>"
                        + "<LastModified>2026-12-04T00:00:00.000Z</LastModified><ETag>\(s.objects[k]!.etag)</ETag>"
                        + "<Size>\(s.objects[k]!.bytes.count)</Size></Contents>"
                }
                return Self.xml("<ListBucketResult><Name>\(bucket)</Name><Prefix>\(prefix)</Prefix><KeyCount>\(rows.count)</KeyCount>"
                                + "<IsTruncated>false</IsTruncated>\(rows.joined())</ListBucketResult>")
            case "ListMultipartUploads":
                let prefix = c.query["prefix"] ?? ""
                let rows = s.uploads.filter { $0.value.key.hasPrefix(prefix) }.map {
                    "<Upload><Key>\($0.value.key)</Key><UploadId>\($0.key)</UploadId><Initiated>2026-12-04T00:00:00.000Z</Initiated></Upload>"
                }
                return Self.xml("<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>\(rows.joined())</ListMultipartUploadsResult>")
            case "CreateMultipartUpload":
                s.nextUpload += 1
                let id = "upload-\(s.nextUpload)"
                s.uploads[id] = (key: c.key!, parts: [:])
                return Self.xml("<InitiateMultipartUploadResult><Bucket>\(bucket)</Bucket><Key>\(c.key!)</Key><UploadId>\(id)</UploadId></InitiateMultipartUploadResult>")
            case "UploadPart":
                guard let id = c.query["uploadId"], s.uploads[id] != nil, let n = Int(c.query["partNumber"] ?? "") else {
                    return Self.error(404, "NoSuchUpload", "The specified upload does not exist.")
                }
                s.uploads[id]!.parts[n] = body
                return HTTPResponse(status: 200, headers: [("ETag", "\"\(Digest.md5(body).hex)\"")], body: [], bodyLength: 0)
            case "ListParts":
                guard let u = s.uploads[c.query["uploadId"] ?? ""] else { return Self.error(404, "NoSuchUpload") }
                let rows = u.parts.keys.sorted().map { n in
                    "<Part><PartNumber>\(n)</PartNumber><ETag>\"\(Digest.md5(u.parts[n]!).hex)\"</ETag><Size>\(u.parts[n]!.count)</Size></Part>"
                }
                return Self.xml("<ListPartsResult><IsTruncated>false</IsTruncated>\(rows.joined())</ListPartsResult>")
            case "AbortMultipartUpload":
                guard s.uploads.removeValue(forKey: c.query["uploadId"] ?? "") != nil else { return Self.error(404, "NoSuchUpload") }
                return HTTPResponse(status: 204, headers: [], body: [], bodyLength: 0)
            case "CompleteMultipartUpload":
                guard let u = s.uploads.removeValue(forKey: c.query["uploadId"] ?? "") else {
                    return Self.error(404, "NoSuchUpload", "The specified upload does not exist.")
                }
                let numbers = String(decoding: body, as: UTF8.self).components(separatedBy: "<PartNumber>").dropFirst()
                    .compactMap { Int($0.components(separatedBy: "</PartNumber>")[0]) }
                var bytes = [UInt8](), md5s = [UInt8]()
                for n in numbers {
                    guard let p = u.parts[n] else { return Self.error(400, "InvalidPart", "part \(n) was never uploaded") }
                    bytes += p
                    md5s += Digest.md5(p)
                }
                let etag = "\"\(Digest.md5(md5s).hex)-\(numbers.count)\""
                s.objects[u.key] = Object(bytes: bytes, etag: etag)
                return Self.xml("<CompleteMultipartUploadResult><Bucket>\(bucket)</Bucket><Key>\(u.key)</Key><ETag>\(etag)</ETag></CompleteMultipartUploadResult>")
            default:
                return Self.error(501, "NotImplemented", "the in-memory S3 double does not answer \(c.name)")
            }
        }
    }
}
