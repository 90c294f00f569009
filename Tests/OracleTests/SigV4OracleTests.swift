import Checksums
import Foundation
import PluginSupport
import TestSupport
import XCTest
@testable import ObjectStore

/// The interpreter of the project venv (`make test` exports ARGO_PLUGIN_PYTHON), never whatever
/// `python3` is on PATH: the oracles import only what Tests/requirements.txt declares.
func oraclePython(repo: URL) throws -> String {
    let path = ProcessInfo.processInfo.environment["ARGO_PLUGIN_PYTHON"].flatMap { $0.isEmpty ? nil : $0 }
        ?? repo.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: path) else {
        throw NSError(domain: "oracle", code: 127, userInfo: [NSLocalizedDescriptionKey:
            "no Python interpreter at \(path): run `make venv` (or set ARGO_PLUGIN_PYTHON)"])
    }
    return path
}

/// Runs a Python oracle script with JSON in and out. Input and output go through temp files,
/// so an oracle that dies early fails the test instead of blocking or breaking a pipe.
func runOracle(_ script: String, _ input: Any) throws -> [[String: String]] {
    let repo = TestPaths.repository
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("oracle-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let (inURL, outURL, errURL) = (dir.appendingPathComponent("in"), dir.appendingPathComponent("out"), dir.appendingPathComponent("err"))
    try JSONSerialization.data(withJSONObject: input).write(to: inURL)
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try oraclePython(repo: repo))
    p.arguments = [repo.appendingPathComponent("scripts/oracles/\(script)").path]
    p.standardInput = try FileHandle(forReadingFrom: inURL)
    p.standardOutput = try FileHandle(forWritingTo: outURL)
    p.standardError = try FileHandle(forWritingTo: errURL)
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        let err = (try? String(contentsOf: errURL, encoding: .utf8)) ?? ""
        throw NSError(domain: "oracle", code: Int(p.terminationStatus), userInfo: [NSLocalizedDescriptionKey:
            "oracle \(script) failed (exit \(p.terminationStatus)): \(err)"])
    }
    return try JSONSerialization.jsonObject(with: Data(contentsOf: outURL)) as! [[String: String]]
}

/// Every Authorization we computed must equal the oracle's; the first mismatches are shown.
func assertSameSignatures(ours: [String], theirs: [[String: String]], inputs: [[String: Any]], oracle: String,
                          file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(theirs.count, ours.count, file: file, line: line)
    var mismatches = 0
    for (i, t) in theirs.enumerated() where t["authorization"] != ours[i] {
        mismatches += 1
        if mismatches <= 3 {
            XCTFail("request \(i): \(inputs[i]["method"]!) \(inputs[i]["url"]!)\n ours:   \(ours[i])\n theirs: \(t["authorization"] ?? "-")", file: file, line: line)
        }
    }
    XCTAssertEqual(mismatches, 0, "\(mismatches) of \(ours.count) signatures differ from \(oracle)", file: file, line: line)
}

final class SigV4OracleTests: XCTestCase {
    func randomKey(_ rng: inout SeededRandom) -> String {
        let alphabet = Array("abcXYZ019-_.~ +=&%!$'()*,;:@é日本🚀")
        let segments = Int.random(in: 1...4, using: &rng)
        return (0..<segments).map { _ in String((0..<Int.random(in: 1...12, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }) }
            .joined(separator: "/")
    }

    /// 200 random requests signed by us and by botocore's S3SigV4Auth with the same inputs and
    /// clock: every Authorization header must be identical.
    func testAgainstBotocore() throws {
        var rng = SeededRandom(state: 20261129)
        var inputs: [[String: Any]] = []
        var ours: [String] = []
        for i in 0..<200 {
            let host = ["127.0.0.1:7480", "s3.us-west-2.amazonaws.com", "bucket.s3.amazonaws.com", "minio:9000"].randomElement(using: &rng)!
            let scheme = Bool.random(using: &rng) ? "http" : "https"
            let method = ["GET", "PUT", "HEAD", "DELETE", "POST"].randomElement(using: &rng)!
            let path = "/bucket-\(i % 7)/" + randomKey(&rng)
            let encodedPath = "/" + path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { URIEncoding.encode(String($0)) }.joined(separator: "/")
            var query: [(String, String)] = []
            for (k, v) in [("uploads", ""), ("partNumber", String(Int.random(in: 1...10000, using: &rng))), ("uploadId", randomKey(&rng)),
                           ("list-type", "2"), ("prefix", randomKey(&rng)), ("continuation-token", "1/a+b=c"), ("delete", "")]
                where Int.random(in: 0..<4, using: &rng) == 0 {
                query.append((k, v))
            }
            var headers: [(String, String)] = []
            if Bool.random(using: &rng) { headers.append(("Content-Type", "application/octet-stream")) }
            if Bool.random(using: &rng) { headers.append(("Content-MD5", Data(Digest.md5(Array(path.utf8))).base64EncodedString())) }
            if Bool.random(using: &rng) { headers.append(("Range", "bytes=\(i)-\(i * 100 + 99)")) }
            if Bool.random(using: &rng) { headers.append(("x-amz-meta-note", "  two  spaces\tand tab ")) }
            if Bool.random(using: &rng) { headers.append(("If-Match", "\"\(Digest.md5(Array(String(i).utf8)).hex)\"")) }
            let body: [UInt8] = (method == "PUT" || method == "POST") ? (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } : []
            let unsigned = Bool.random(using: &rng)
            let token: String? = Bool.random(using: &rng) ? "FQoGZXIvYXdzE" + randomKey(&rng).replacingOccurrences(of: "/", with: "") : nil
            let creds = Credentials(accessKeyID: "AKIDEXAMPLE\(i)", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCY\(i)", sessionToken: token)
            let region = ["us-east-1", "us-west-2", "eu-central-1", "default"].randomElement(using: &rng)!
            let date = Int64(1_600_000_000 + Int.random(in: 0...400_000_000, using: &rng))

            let signer = SigV4Signer(region: region)
            var r = SigV4Signer.Request(method: method, encodedPath: encodedPath, query: query, headers: [("host", host)] + headers)
            signer.sign(&r, credentials: creds, payloadHash: unsigned ? SigV4Signer.unsignedPayload : Digest.sha256(body).hex, date: date)
            ours.append(r.headers.first { $0.0 == "Authorization" }!.1)

            let q = query.isEmpty ? "" : "?" + query.map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
            var input: [String: Any] = [
                "method": method, "url": "\(scheme)://\(host)\(encodedPath)\(q)", "headers": headers.map { [$0.0, $0.1] },
                "body_b64": Data(body).base64EncodedString(), "unsigned": unsigned,
                "access": creds.accessKeyID, "secret": creds.secretAccessKey, "region": region, "date": date,
            ]
            if let token { input["token"] = token }
            inputs.append(input)
        }
        assertSameSignatures(ours: ours, theirs: try runOracle("sigv4_botocore.py", inputs), inputs: inputs, oracle: "botocore")
    }

    /// The worked example of AWS's SigV4 documentation (GET object with a range).
    func testAWSDocumentationExample() {
        let creds = Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
        var r = SigV4Signer.Request(method: "GET", encodedPath: "/test.txt", query: [],
                                    headers: [("Host", "examplebucket.s3.amazonaws.com"), ("Range", "bytes=0-9")])
        SigV4Signer(region: "us-east-1").sign(&r, credentials: creds, payloadHash: SigV4Signer.emptyPayloadHash, date: 1_369_353_600)
        XCTAssertEqual(r.headers.first { $0.0 == "Authorization" }?.1,
                       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
    }

    func testCredentialsNeverPrintSecrets() {
        let c = Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG", sessionToken: "SESSIONTOKEN")
        for text in ["\(c)", String(describing: c), String(reflecting: c)] {
            XCTAssertFalse(text.contains("wJalr"), text)
            XCTAssertFalse(text.contains("SESSIONTOKEN"), text)
            XCTAssertFalse(text.contains("AKIAIOSFODNN7EXAMPLE"), text)
        }
    }
}
