import ArtifactCore
import Kubernetes
import PluginSupport
import StoreRuntime

/// Any S3-compatible store: its own configuration fields and its factory.
public struct S3Provider: StoreProvider {
    public init() {}

    public let name = "s3"
    public let isRemote = true
    public let summary = "stores objects in an S3 bucket"
    public let fields = ["roleARN", "encryptionOptions"]
    public let checksums: [MultipartSettings.ChecksumKind] = [.auto, .md5, .sha256, .crc32, .crc32c, .none]

    /// Any endpoint another provider did not claim first.
    public func claims(_ fields: ConfigFields, endpoint: Endpoint?) -> Bool { endpoint != nil }

    public func parse(_ fields: ConfigFields, into c: inout PluginConfiguration) throws -> any StoreSettings {
        var s = S3Settings(roleARN: try fields.string("roleARN"))
        if fields.isMapping("createBucketIfNotPresent"),
           let create = try fields.mapping("createBucketIfNotPresent", allowed: ["objectLocking"]) {
            s.objectLocking = try create.bool("objectLocking") ?? false
        }
        if let e = try fields.mapping("encryptionOptions", allowed: ["enableEncryption", "kmsKeyId", "kmsEncryptionContext", "serverSideCustomerKeySecret"]) {
            s.encryption = try S3EncryptionOptions.parse(e, endpoint: c.endpoint!, insecure: c.insecure)
        }
        return s
    }

    public func makeStore(_ c: PluginConfiguration, environment: StoreEnvironment) throws -> any ArtifactStore {
        let region = c.region ?? Self.regionFromEndpoint(c.endpoint!.host) ?? "us-east-1"
        let settings = c.storeSettings(S3Settings.self) ?? S3Settings()
        return ObjectStore(configuration: c, dialect: S3Dialect(region: region),
                           credentials: try S3Credentials.provider(c, settings: settings, environment: environment),
                           encryption: Self.encryption(settings.encryption, bucket: c.bucket!, environment: environment),
                           bucketCreationHeaders: settings.objectLocking ? [("x-amz-bucket-object-lock-enabled", "true")] : [],
                           environment: environment)
    }

    /// The encryption Argo's driver would apply for these options (none unless enabled).
    static func encryption(_ o: S3EncryptionOptions?, bucket: String, environment: StoreEnvironment) -> (any ServerSideEncryption)? {
        guard let o else { return nil }
        guard let mode = o.mode else {
            if o.kmsKeyID != nil || o.customerKeySecret != nil {
                Log.store.warning("encryptionOptions of bucket \(bucket) name a key but not enableEncryption: true; as Argo's S3 driver, nothing is encrypted")
            }
            return nil
        }
        var keys: CustomerKeys?
        if case .customerKey(let ref) = mode {
            let kubernetes = environment.kubernetes
            keys = CustomerKeys(bucket: bucket, budget: environment.budget, io: environment.io) {
                do {
                    return try await kubernetes.client().secretBytes(ref)
                } catch let e as KubernetesError {
                    throw CredentialError(message: "cannot read serverSideCustomerKeySecret: \(e.message)")
                }
            }
        }
        return S3ServerSideEncryption(mode: mode, customerKeys: keys)
    }

    /// `s3.us-west-2.amazonaws.com`, `s3-us-west-2.amazonaws.com`, `bucket.s3.eu-central-1.amazonaws.com`.
    public static func regionFromEndpoint(_ host: String) -> String? {
        guard host.hasSuffix(".amazonaws.com") || host.hasSuffix(".amazonaws.com.cn") else { return nil }
        let parts = host.split(separator: ".")
        for (i, p) in parts.enumerated() {
            if p.hasPrefix("s3-") { return String(p.dropFirst(3)) }
            if p == "s3", i + 1 < parts.count, parts[i + 1] != "amazonaws", parts[i + 1] != "dualstack" { return String(parts[i + 1]) }
        }
        return nil
    }
}

/// The S3 store's own settings.
public struct S3Settings: StoreSettings {
    /// The role to assume with the web-identity token (Argo's `roleARN`; overrides AWS_ROLE_ARN).
    public var roleARN: String?
    /// Argo's `encryptionOptions`, as written.
    public var encryption: S3EncryptionOptions?
    /// Argo's `createBucketIfNotPresent: {objectLocking: true}`: a bucket the plugin creates has
    /// object lock enabled.
    public var objectLocking = false

    public init(roleARN: String? = nil, encryption: S3EncryptionOptions? = nil) {
        self.roleARN = roleARN
        self.encryption = encryption
    }

    public var yamlFields: [(String, String?)] {
        [("roleARN", roleARN.map(YAMLScalar.quote)), ("encryptionOptions", encryption?.yaml),
         ("createBucketIfNotPresent", objectLocking ? "{objectLocking: true}" : nil)]
    }
}
