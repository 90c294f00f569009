import XCTest
@testable import ArtifactCore
import ArtifactService
import FileStore
import ObjectStore

/// The configuration as the plugin reads it: the common fields and every store module's own,
/// through the service's provider table.
final class ConfigParserTests: XCTestCase {
    func parse(_ s: String) throws -> PluginConfiguration { try StoreProviders.parser.parse(s) }

    func error(_ s: String) -> ConfigError? {
        do { _ = try parse(s); return nil } catch let e as ConfigError { return e } catch { return nil }
    }

    func testFileProvider() throws {
        let c = try parse("provider: file\nroot: /data/artifacts\n")
        XCTAssertEqual(c.provider, "file")
        XCTAssertEqual(c.storeSettings(FileStoreSettings.self)?.root, "/data/artifacts")
        XCTAssertEqual(try parse("root: /x").provider, "file", "root alone implies the file provider")
    }

    func testArgoE2EPluginBlockParsesUnchanged() throws {
        // From Argo's test/e2e artifact-repositories ConfigMap (plugin-v1).
        let c = try parse("""
            bucket: plugin-bucket
            endpoint: minio:9000
            insecure: true
            accessKeySecret:
              name: my-minio-cred
              key: accesskey
            secretKeySecret:
              name: my-minio-cred
              key: secretkey
            """)
        XCTAssertEqual(c.provider, "s3")
        XCTAssertEqual(c.bucket, "plugin-bucket")
        XCTAssertEqual(c.endpoint, Endpoint(scheme: nil, host: "minio", port: 9000))
        XCTAssertEqual(c.insecure, true)
        XCTAssertEqual(c.credentials.accessKeySecret, SecretReference(name: "my-minio-cred", key: "accesskey"))
    }

    func testOSSInferredAndArgoOSSFields() throws {
        let c = try parse("""
            endpoint: oss-cn-hangzhou-internal.aliyuncs.com
            bucket: my-argo-artifacts
            accessKeySecret: {name: oss-credentials, key: accessKey}
            secretKeySecret: {name: oss-credentials, key: secretKey}
            multipart: {partSize: 64Mi, concurrency: 8}
            lifecycleRule: {markInfrequentAccessAfterDays: 7, markDeletionAfterDays: 30}
            """)
        XCTAssertEqual(c.provider, "oss")
        XCTAssertEqual(c.multipart.partSize, 64 << 20)
        XCTAssertEqual(c.lifecycle?.transitionAfterDays, 7)
        XCTAssertEqual(c.lifecycle?.expireAfterDays, 30)
        XCTAssertNil(c.lifecycle?.transitionStorageClass, "the store's dialect names its infrequent-access class")
    }

    func testS3CreateBucketObjectForm() throws {
        XCTAssertTrue(try parse("endpoint: s3.amazonaws.com\nbucket: abc\nuseSDKCreds: true\ncreateBucketIfNotPresent: {objectLocking: false}").createBucketIfNotPresent)
        XCTAssertTrue(try parse("endpoint: s3.amazonaws.com\nbucket: abc\nuseSDKCreds: true\ncreateBucketIfNotPresent: true").createBucketIfNotPresent)
    }

    func testTypoIsAnErrorWithSuggestion() {
        let e = error("provider: file\nroot: /x\nmultipart: {partsize: 8Mi}")
        XCTAssertEqual(e?.field, "multipart.partsize")
        XCTAssertTrue(e?.reason.contains("did you mean 'partSize'") ?? false, e?.description ?? "")
        XCTAssertEqual(error("provider: file\nrooot: /x")?.field, "rooot")
    }

    func testMissingAndInvalidFieldsAreNamed() {
        XCTAssertEqual(error("provider: file")?.field, "root")
        XCTAssertEqual(error("provider: file\nroot: relative/dir")?.field, "root")
        XCTAssertEqual(error("provider: s3\nbucket: abc")?.field, "endpoint")
        XCTAssertEqual(error("provider: s3\nendpoint: x:9000")?.field, "bucket")
        XCTAssertEqual(error("provider: nfs\nroot: /x")?.field, "provider")
        XCTAssertEqual(error("endpoint: x\nbucket: Bad_Bucket")?.field, "bucket")
        XCTAssertEqual(error("endpoint: x:99999\nbucket: abc")?.field, "endpoint")
        XCTAssertEqual(error("endpoint: x/path\nbucket: abc")?.field, "endpoint")
        XCTAssertEqual(error("endpoint: x\nbucket: abc\ninsecure: maybe")?.field, "insecure")
        XCTAssertEqual(error("endpoint: x\nbucket: abc\naccessKeySecret: {name: a, key: b}")?.field, "secretKeySecret")
        XCTAssertEqual(error("endpoint: x\nbucket: abc\naccessKeySecret: {name: a}")?.field, "accessKeySecret.key")
        XCTAssertEqual(error("provider: file\nroot: /x\nmultipart: {partSize: lots}")?.field, "multipart.partSize")
        XCTAssertEqual(error("provider: file\nroot: /x\nmultipart: {concurrency: 0}")?.field, "multipart.concurrency")
        XCTAssertEqual(error("provider: file\nroot: /x\nbucket: b")?.field, "bucket")
        XCTAssertEqual(error("provider: file\nroot: /x\ngc: {when: Sometimes}")?.field, "gc.when")
        XCTAssertEqual(error("provider: file\nroot: /x\nmultipart: 3")?.field, "multipart")
        XCTAssertNotNil(error(": : :\n  - ["))
        XCTAssertNotNil(error(""))
    }

    func testLineNumbersAreReported() {
        let e = error("provider: file\nroot: /x\nmultipart:\n  threshold: 1Gi\n  partSiz: 8Mi\n")
        XCTAssertEqual(e?.line, 5)
        XCTAssertTrue(e!.description.contains("line 5"))
    }

    func testSizes() {
        XCTAssertEqual(Quantities.parseSize("16777216"), 16 << 20)
        XCTAssertEqual(Quantities.parseSize("16Mi"), 16 << 20)
        XCTAssertEqual(Quantities.parseSize("64MiB"), 64 << 20)
        XCTAssertEqual(Quantities.parseSize("1Gi"), 1 << 30)
        XCTAssertEqual(Quantities.parseSize("2Ki"), 2048)
        XCTAssertEqual(Quantities.parseSize("1G"), 1_000_000_000)
        XCTAssertNil(Quantities.parseSize("1.5Gi"))
        XCTAssertNil(Quantities.parseSize("-1"))
        XCTAssertNil(Quantities.parseSize("Mi"))
        XCTAssertNil(Quantities.parseSize("99999999999Ti"))
        XCTAssertEqual(Quantities.formatBytes(1536), "1.5 KiB")
    }

    func testEndpointForms() throws {
        XCTAssertEqual(try ConfigParser.parseEndpoint("https://s3.example.com", line: nil), Endpoint(scheme: "https", host: "s3.example.com", port: nil))
        XCTAssertEqual(try ConfigParser.parseEndpoint("http://127.0.0.1:7480/", line: nil), Endpoint(scheme: "http", host: "127.0.0.1", port: 7480))
        XCTAssertTrue(try ConfigParser.parseEndpoint("127.0.0.1:7480", line: nil).isIPOrLocalhost)
        XCTAssertTrue(try ConfigParser.parseEndpoint("localhost", line: nil).isIPOrLocalhost)
        XCTAssertFalse(try ConfigParser.parseEndpoint("minio:9000", line: nil).isIPOrLocalhost)
        XCTAssertEqual(try ConfigParser.parseEndpoint("[::1]:9000", line: nil).port, 9000)
    }

    func testNoCredentialsIsAConfigurationError() {
        let e = error("endpoint: s3.amazonaws.com\nbucket: abc")
        XCTAssertEqual(e?.field, "accessKeySecret")
        XCTAssertTrue(e?.reason.contains("no credentials configured") ?? false, e?.description ?? "")
    }

    /// `config check` prints the configuration with every default; that text parses back to it.
    func testDescriptionParsesBackToTheSameConfiguration() throws {
        let texts = [
            "provider: file\nroot: /data/artifacts\nmultipart: {partSize: 8Mi, checksum: md5}\ngc: {when: Failed, onUnknown: keep}",
            """
            endpoint: https://minio.example.com:9000
            bucket: my.bucket-1
            region: eu-1
            addressingStyle: path
            accessKeySecret: {name: "my cred", key: accesskey}
            secretKeySecret: {name: my-cred, key: "secret: key"}
            sessionTokenSecret: {name: t, key: k, optional: true}
            createBucketIfNotPresent: {objectLocking: false}
            caSecret: {name: ca, key: ca.crt}
            storageClass: STANDARD_IA
            lifecycle: {prefix: "wf/", expireAfterDays: 30, transitionAfterDays: 7, abortIncompleteUploadsAfterDays: 2}
            multipart: {threshold: 100000, partSize: 5Mi, concurrency: 3, memoryLimit: 1Gi, resume: false, checkpointDir: /var/cp}
            load: {partSize: 32Mi, concurrency: 2}
            retry: {attempts: 2}
            timeouts: {connect: 3s, stall: 2m}
            """,
            "endpoint: oss-cn-beijing.aliyuncs.com\nbucket: b-1\nuseSDKCreds: true\nstorageClass: ia\nrestoreArchived: true\nlifecycleRule: {markDeletionAfterDays: 9}",
            "endpoint: s3.amazonaws.com\nbucket: abc\nuseSDKCreds: true\ncreateBucketIfNotPresent: {objectLocking: true}\nencryptionOptions: {enableEncryption: true, kmsKeyId: k1, kmsEncryptionContext: '{\"a\": \"b\"}'}",
            "endpoint: oss-cn-beijing.aliyuncs.com\nbucket: b-1\nuseSDKCreds: true\nencryptionOptions: {enableEncryption: true, kmsKeyId: k1}",
            // Argo's 0 means no rule: both 0 is no lifecycle (found by the config fuzzer).
            "endpoint: localhost:1\nbucket: abc\nuseSDKCreds: true\nlifecycleRule: {markInfrequentAccessAfterDays: 0}",
        ]
        for text in texts {
            let parsed = try parse(text)
            let description = parsed.yamlDescription
            XCTAssertEqual(try parse(description), parsed, description)
        }
    }

    func testArgosSpellingsAndFieldsThatBelongElsewhere() throws {
        let base = "endpoint: s3.amazonaws.com\nbucket: abc\nuseSDKCreds: true\n"
        XCTAssertEqual(try parse(base + "addressingStyle: virtual-hosted").addressingStyle, .virtual)
        XCTAssertEqual(try parse(base + "addressingStyle: virtual").addressingStyle, .virtual)
        XCTAssertEqual(try parse(base + "addressingStyle: path").addressingStyle, .path)
        XCTAssertNil(try parse(base + "addressingStyle: \"\"").addressingStyle)
        XCTAssertTrue(try parse(base + "addressingStyle: virtual").yamlDescription.contains("addressingStyle: virtual-hosted"))
        XCTAssertEqual(error(base + "addressingStyle: dns")?.field, "addressingStyle")
        for (field, says) in [("keyFormat", "artifact repository"), ("keyPrefix", "artifact repository"), ("key", "plugin.key")] {
            let e = error(base + "\(field): x/y")
            XCTAssertEqual(e?.field, field)
            XCTAssertTrue(e?.reason.contains(says) ?? false, e?.description ?? "")
        }
    }

    func testAFieldOfOtherProvidersNamesThemAll() {
        let e = error("root: /x\nencryptionOptions: {enableEncryption: true}")
        XCTAssertEqual(e?.field, "encryptionOptions")
        XCTAssertTrue(e?.reason.contains("only used by providers oss, s3") ?? false, e?.description ?? "")
    }

    func testSSECOverPlainHTTPOnlyToTheMachineItself() throws {
        let ssec = "useSDKCreds: true\nbucket: abc\ninsecure: true\nencryptionOptions: {enableEncryption: true, serverSideCustomerKeySecret: {name: s, key: k}}\n"
        XCTAssertNoThrow(try parse("endpoint: 127.0.0.1:9000\n" + ssec))
        XCTAssertNoThrow(try parse("endpoint: localhost:9000\n" + ssec))
        for remote in ["127.evil.example:9000", "10.0.0.5:9000", "minio:9000"] {
            XCTAssertEqual(error("endpoint: \(remote)\n" + ssec)?.field, "encryptionOptions.serverSideCustomerKeySecret", remote)
        }
        XCTAssertNoThrow(try parse("endpoint: https://minio:9000\n" + ssec.replacingOccurrences(of: "insecure: true\n", with: "")))
    }

    func testALifecycleWithoutARuleIsRefusedOrDropped() throws {
        let zero = try parse("endpoint: localhost:1\nbucket: abc\nuseSDKCreds: true\nlifecycleRule: {markInfrequentAccessAfterDays: 0, markDeletionAfterDays: 0}")
        XCTAssertNil(zero.lifecycle)
        XCTAssertThrowsError(try parse("endpoint: localhost:1\nbucket: abc\nuseSDKCreds: true\nlifecycle: {prefix: wf/}")) { e in
            XCTAssertTrue("\(e)".contains("lifecycle") && "\(e)".contains("no rule"), "\(e)")
        }
    }

    func testDescriptionHidesTheInlineToken() throws {
        let c = try parse("endpoint: oss-cn-beijing.aliyuncs.com\nbucket: b-1\naccessKeySecret: {name: a, key: b}\nsecretKeySecret: {name: a, key: c}\nsecurityToken: STS.very-secret-token-value")
        XCTAssertFalse(c.yamlDescription.contains("very-secret"), c.yamlDescription)
        XCTAssertTrue(c.yamlDescription.contains("securityToken: <hidden>"), c.yamlDescription)
        XCTAssertTrue(c.yamlDescription.contains("accessKeySecret: {name: a, key: b}"), c.yamlDescription)
    }

    func testCachePerDistinctText() throws {
        let cache = ConfigCache(parser: StoreProviders.parser)
        let a = try cache.configuration(for: "provider: file\nroot: /a")
        XCTAssertEqual(a.storeSettings(FileStoreSettings.self)?.root, "/a")
        XCTAssertThrowsError(try cache.configuration(for: "provider: file"))
        XCTAssertThrowsError(try cache.configuration(for: "provider: file"))
    }
}
