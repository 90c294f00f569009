import ArtifactService
import Checksums
import Foundation
import Logging
import PluginHTTP2
import PluginRPC
import PluginSupport
import StoreHTTP
import TestSupport
import XCTest

/// Replays Tests/Fixtures/file-store-session.json (recorded from a real grpcio client by
/// scripts/record-fixtures.py) against the server, over a real Unix socket with libcurl's HTTP/2
/// client, and compares every response message, status and written file.
final class FixtureReplayTests: XCTestCase {
    struct Session: Decodable {
        struct SetupFile: Decodable {
            var path: String
            var text: String?
            var dir: Bool?
            var `repeat`: String?
            var size: Int?
        }
        struct Output: Decodable {
            var path: String
            var digest: [String: String]
        }
        struct Step: Decodable {
            var name: String
            var path: String
            var requests: [String]
            var responses: [String]
            var status: Int
            var message: String
            var compare: String?
            var output: Output?
        }
        var base: String
        var setup: [SetupFile]
        var steps: [Step]
    }

    static var fixturesDir: URL { TestPaths.fixtures }

    func testReplayFileStoreSession() async throws {
        let data = try Data(contentsOf: Self.fixturesDir.appendingPathComponent("file-store-session.json"))
        let session = try JSONDecoder().decode(Session.self, from: data)
        try materialize(session)

        // ARGO_PLUGIN_REPLAY_SOCKET replays against a running plugin binary instead.
        var socket = NSTemporaryDirectory() + "replay-\(getpid()).sock"
        var server: HTTP2Server?
        if let external = ProcessInfo.processInfo.environment["ARGO_PLUGIN_REPLAY_SOCKET"] {
            socket = external
        } else {
            let logger = Logger(label: "replay")
            server = try HTTP2Server(configuration: .init(socketPath: socket),
                                     handler: RPCRouter(service: ArtifactServiceHandler().rpcService, logger: logger), logger: logger)
            try server!.start()
        }

        var options = HTTPTransportOptions()
        options.unixSocketPath = socket
        options.httpVersion = .http2PriorKnowledge
        // libcurl 7.88 fails reusing an h2c connection ("Error in the HTTP2 framing layer", seen
        // against grpcio's server too): one connection per call.
        options.reuseConnection = false
        for step in session.steps {
            var body: [UInt8] = []
            for r in step.requests { body += GRPCFraming.frame(Array(Data(base64Encoded: r)!)) }
            let response = try await HTTPClient.shared.execute(
                HTTPRequest(method: "POST", url: "http://localhost" + step.path,
                            headers: [("content-type", "application/grpc"), ("te", "trailers")], body: .bytes(body)),
                options: options)
            XCTAssertEqual(response.status, 200, step.name)
            let status = Int(response.trailer("grpc-status") ?? response.header("grpc-status") ?? "-1")
            XCTAssertEqual(status, step.status, "\(step.name): grpc-status \(response.headers) \(response.trailers)")
            let message = (response.trailer("grpc-message") ?? response.header("grpc-message") ?? "").removingPercentEncoding ?? ""
            XCTAssertEqual(message, step.message, "\(step.name): grpc-message")
            let got = Self.messages(response.body)
            let want = step.responses.map { Array(Data(base64Encoded: $0)!) }
            if step.compare == "tar" {
                XCTAssertEqual(got.count, want.count, step.name)
                XCTAssertEqual(try Self.tarMembers(got.dropLast()), try Self.tarMembers(want.dropLast()), step.name)
                XCTAssertEqual(got.last, want.last, "\(step.name): is_end message")
            } else {
                XCTAssertEqual(got, want, "\(step.name): response messages")
            }
            if let out = step.output {
                XCTAssertEqual(try Self.treeDigest(out.path), out.digest, "\(step.name): written files")
            }
        }
        await server?.shutdown(grace: .seconds(1))
    }

    func materialize(_ s: Session) throws {
        let fm = FileManager.default
        try? fm.removeItem(atPath: s.base)
        for f in s.setup {
            if f.dir == true {
                try fm.createDirectory(atPath: f.path, withIntermediateDirectories: true)
                continue
            }
            try fm.createDirectory(atPath: (f.path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            var bytes: [UInt8]
            if let t = f.text { bytes = Array(t.utf8) } else {
                let pat = Array(f.repeat!.utf8)
                bytes = (0..<f.size!).map { pat[$0 % pat.count] }
            }
            try Data(bytes).write(to: URL(fileURLWithPath: f.path))
        }
        try fm.createDirectory(atPath: s.base + "/store", withIntermediateDirectories: true)
    }

    static func messages(_ body: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while i + 5 <= body.count {
            let n = Int(body[i + 1]) << 24 | Int(body[i + 2]) << 16 | Int(body[i + 3]) << 8 | Int(body[i + 4])
            out.append(Array(body[(i + 5)..<(i + 5 + n)]))
            i += 5 + n
        }
        return out
    }

    /// The data fields of OpenStream messages, joined, read as tar: name → sha256 (or "dir").
    static func tarMembers<C: Collection>(_ msgs: C) throws -> [String: String] where C.Element == [UInt8] {
        var data: [UInt8] = []
        for m in msgs {
            // field 1 (bytes): tag 0x0A, varint length, payload
            var i = 1, len = 0, shift = 0
            while true { let b = Int(m[i]); len |= (b & 0x7F) << shift; i += 1; if b < 0x80 { break }; shift += 7 }
            data += m[i..<(i + len)]
        }
        var members: [String: String] = [:]
        var off = 0
        var paxName: String?
        while off + 512 <= data.count {
            let h = Array(data[off..<(off + 512)])
            if h.allSatisfy({ $0 == 0 }) { break }
            let name = String(decoding: h[0..<100].prefix { $0 != 0 }, as: UTF8.self)
            let size = Int(String(decoding: h[124..<135], as: UTF8.self), radix: 8) ?? 0
            let type = h[156]
            let content = Array(data[(off + 512)..<(off + 512 + size)])
            off += 512 + (size + 511) / 512 * 512
            if type == UInt8(ascii: "x") {
                let text = String(decoding: content, as: UTF8.self)
                if let r = text.range(of: " path=") { paxName = String(text[r.upperBound...].prefix { $0 != "\n" }) }
                continue
            }
            let full = paxName ?? name
            paxName = nil
            members[full] = type == UInt8(ascii: "5") ? "dir" : Digest.sha256(content).hex
        }
        return members
    }

    /// Same shape as record-fixtures.py's tree_digest.
    static func treeDigest(_ path: String) throws -> [String: String] {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return [:] }
        if !isDir.boolValue { return ["": Digest.sha256([UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))).hex] }
        var out: [String: String] = [:]
        for rel in try fm.subpathsOfDirectory(atPath: path) {
            let p = path + "/" + rel
            _ = fm.fileExists(atPath: p, isDirectory: &isDir)
            if isDir.boolValue {
                if try fm.contentsOfDirectory(atPath: p).isEmpty { out[rel + "/"] = "" }
            } else {
                out[rel] = Digest.sha256([UInt8](try Data(contentsOf: URL(fileURLWithPath: p)))).hex
            }
        }
        return out
    }
}
