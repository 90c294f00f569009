import PluginSupport
import XCTest
@testable import ArtifactCore

/// Two store schemas for the parser's own tests, doubles of what a store module declares: a local
/// store with a `directory` field, and a remote one with a `tier` field. The parser knows neither.
struct LocalTestSchema: StoreSchema {
    let name = "local"
    let isRemote = false
    let summary = "keeps objects in `directory`"
    let fields = ["directory"]
    let checksums: [MultipartSettings.ChecksumKind] = [.none, .md5]

    func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool { fields.has("directory") }

    func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        guard let d = try fields.string("directory") else { throw ConfigError("directory", "missing") }
        guard d.hasPrefix("/") else { throw ConfigError("directory", "must be an absolute path, got \(Echo.quoted(d))", line: fields.line(of: "directory")) }
        return TestStoreSettings(field: "directory", value: d)
    }
}

struct RemoteTestSchema: StoreSchema {
    let name = "remote"
    let isRemote = true
    let summary = "keeps objects in a bucket"
    let fields = ["tier"]
    let checksums = MultipartSettings.ChecksumKind.allCases

    func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool { endpoint != nil }

    func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        TestStoreSettings(field: "tier", value: try fields.string("tier") ?? "small")
    }
}

struct TestStoreSettings: StoreSettings {
    var field: String
    var value: String
    var yamlFields: [(String, String?)] { [(field, YAMLScalar.quote(value))] }
}

let testParser = ConfigParser([LocalTestSchema(), RemoteTestSchema()])

/// The parser reads the fields every store shares and hands the rest to the store module a
/// configuration names (or that claims it), knowing nothing of any store itself.
final class StoreSchemaTests: XCTestCase {
    func error(_ s: String) -> ConfigError? {
        do { _ = try testParser.parse(s); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    func testTheNamedOrClaimingModuleReadsItsOwnFields() throws {
        let local = try testParser.parse("directory: /d")
        XCTAssertEqual(local.provider, "local")
        XCTAssertEqual(local.storeSettings(TestStoreSettings.self)?.value, "/d")
        let remote = try testParser.parse("endpoint: h:1\nbucket: abc\nuseSDKCreds: true\ntier: large")
        XCTAssertEqual(remote.provider, "remote")
        XCTAssertEqual(remote.storeSettings(TestStoreSettings.self)?.value, "large")
        XCTAssertEqual(try testParser.parse("provider: REMOTE\nendpoint: h:1\nbucket: abc\nuseSDKCreds: true").provider, "remote")
        XCTAssertNotEqual(remote, try testParser.parse("endpoint: h:1\nbucket: abc\nuseSDKCreds: true\ntier: small"),
                          "store settings are part of the configuration's identity")
    }

    func testErrorsNameTheProvidersAndTheirFields() {
        let unknown = error("provider: nfs\ndirectory: /x")
        XCTAssertEqual(unknown?.field, "provider")
        XCTAssertTrue(unknown?.reason.contains("one of local, remote") ?? false, unknown?.description ?? "")
        let none = error("multipart: {threshold: 1Mi}")
        XCTAssertEqual(none?.field, "provider")
        XCTAssertTrue(none?.reason.contains("local, remote") ?? false, none?.description ?? "")
        let other = error("provider: remote\nendpoint: h:1\nbucket: abc\nuseSDKCreds: true\ndirectory: /x")
        XCTAssertEqual(other?.field, "directory")
        XCTAssertTrue(other?.reason.contains("only used by provider local") ?? false, other?.description ?? "")
        let remoteField = error("directory: /x\nbucket: abc")
        XCTAssertEqual(remoteField?.field, "bucket")
        XCTAssertTrue(remoteField?.reason.contains("not used by provider local (it keeps objects in `directory`)") ?? false, remoteField?.description ?? "")
        let check = error("directory: /x\nmultipart: {checksum: crc64}")
        XCTAssertEqual(check?.field, "multipart.checksum")
        XCTAssertTrue(check?.reason.contains("not a check provider local verifies; use one of none, md5") ?? false, check?.description ?? "")
        XCTAssertEqual(error("directory: relative")?.field, "directory")
    }

    func testDescriptionCarriesTheModulesFieldsAndParsesBack() throws {
        for text in ["directory: /data\nmultipart: {checksum: md5}", "endpoint: https://h:9000\nbucket: abc\nuseSDKCreds: true\ntier: \"a: b\""] {
            let c = try testParser.parse(text)
            XCTAssertEqual(try testParser.parse(c.yamlDescription), c, c.yamlDescription)
        }
        XCTAssertTrue(try testParser.parse("directory: /data").yamlDescription.contains("\ndirectory: /data\n"))
    }
}
