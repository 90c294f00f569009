/// The memory and CPU the process may use, as its container was given them: read from its own
/// cgroup at start (as Go's runtime and the JVM do: `/proc/self/cgroup` names the group,
/// `/proc/self/mountinfo` where its hierarchy is mounted), or from `ARGO_PLUGIN_MEMORY_LIMIT` /
/// `ARGO_PLUGIN_CPU_LIMIT` (the manifests set them from the Downward API). Where both say
/// something, the tighter wins: the kernel enforces the cgroup whatever the variable says.
public struct ResourceLimits: Sendable, Equatable {
    /// Bytes; nil when nothing limits memory.
    public var memoryBytes: Int64?
    /// Cores (0.5 = half a core); nil when nothing limits CPU.
    public var cpuCores: Double?
    /// Where each came from, for the start-up line ("cgroup v1", "ARGO_PLUGIN_MEMORY_LIMIT").
    public var memorySource: String?
    public var cpuSource: String?

    public init(memoryBytes: Int64? = nil, cpuCores: Double? = nil, memorySource: String? = nil, cpuSource: String? = nil) {
        self.memoryBytes = memoryBytes
        self.cpuCores = cpuCores
        self.memorySource = memorySource
        self.cpuSource = cpuSource
    }

    public static let memoryVariable = "ARGO_PLUGIN_MEMORY_LIMIT"
    public static let cpuVariable = "ARGO_PLUGIN_CPU_LIMIT"

    /// The limits of this process. `read` returns a file's text or nil (the seam the unit tests
    /// fill with fixtures); `environment` is the process environment.
    public static func discover(environment: [String: String], read: (String) -> String? = ResourceLimits.readFile) throws -> ResourceLimits {
        var limits = CgroupLimits.read(read)
        if let text = environment[memoryVariable], !text.isEmpty {
            guard let v = parseMemory(text) else {
                throw LimitError("\(memoryVariable)='\(Echo.clip(text, limit: 64))' is not a size (bytes, or a Kubernetes quantity such as 128Mi)")
            }
            if limits.memoryBytes.map({ v < $0 }) ?? true { (limits.memoryBytes, limits.memorySource) = (v, memoryVariable) }
        }
        if let text = environment[cpuVariable], !text.isEmpty {
            guard let v = parseCPU(text) else {
                throw LimitError("\(cpuVariable)='\(Echo.clip(text, limit: 64))' is not a CPU amount (cores such as 0.5, or millicores such as 500m)")
            }
            if limits.cpuCores.map({ v < $0 }) ?? true { (limits.cpuCores, limits.cpuSource) = (v, cpuVariable) }
        }
        return limits
    }

    public static func readFile(_ path: String) -> String? {
        guard let fd = try? FileDescriptor.openForReading(path) else { return nil }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while out.count < 4 << 20 {
            guard let n = try? chunk.withUnsafeMutableBytes({ try fd.read(into: $0, at: Int64(out.count)) }), n > 0 else { break }
            out += chunk[..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Bytes as the Downward API writes them (a plain integer), or a Kubernetes quantity
    /// ("128Mi", "1G", "512Ki").
    public static func parseMemory(_ text: String) -> Int64? {
        let t = text.trimmingSpaces
        let suffixes: [(String, Double)] = [("Ki", 1024), ("Mi", 1_048_576), ("Gi", 1_073_741_824), ("Ti", 1_099_511_627_776),
                                            ("k", 1e3), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)]
        var number = Substring(t), scale = 1.0
        for (s, f) in suffixes where t.hasSuffix(s) {
            number = t.dropLast(s.count)
            scale = f
            break
        }
        guard let v = Double(number), v > 0, v.isFinite else { return nil }
        let bytes = v * scale
        return bytes < 9e18 ? Int64(bytes) : nil
    }

    /// Cores ("0.5", "2") or millicores ("500m").
    public static func parseCPU(_ text: String) -> Double? {
        let t = text.trimmingSpaces
        let value = t.hasSuffix("m") ? Double(t.dropLast()).map { $0 / 1000 } : Double(t)
        guard let value, value > 0, value.isFinite else { return nil }
        return value
    }

    /// "memory 128 MiB (cgroup v1), cpu 0.5 (cgroup v1)", for the start-up line and `config check`.
    public var summary: String {
        let mem = memoryBytes.map { "memory \(Self.mebibytes($0)) (\(memorySource ?? "?"))" } ?? "memory unlimited"
        let cpu = cpuCores.map { "cpu \(Self.cores($0)) (\(cpuSource ?? "?"))" } ?? "cpu unlimited"
        return "\(mem), \(cpu)"
    }

    public static func mebibytes(_ b: Int64) -> String {
        b % (1 << 20) == 0 ? "\(b >> 20) MiB" : String(format1: Double(b) / Double(1 << 20)) + " MiB"
    }

    public static func cores(_ c: Double) -> String {
        c == c.rounded() ? String(Int(c)) : String(format1: c, digits: 3)
    }
}

public struct LimitError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ d: String) { description = d }
}

/// The cgroup side of the discovery: which group the process is in, where that hierarchy is
/// mounted, and the limit files along the path up to the mount (a parent's limit binds its
/// children). cgroup v1 controllers win over the v2 entry on a hybrid host (there the unified
/// hierarchy usually carries no controllers).
public enum CgroupLimits {
    public struct Membership: Equatable, Sendable {
        public var hierarchy: Int
        public var controllers: [String]
        public var path: String
    }

    public struct Mount: Equatable, Sendable {
        public var root: String
        public var mountPoint: String
        public var fsType: String
        public var superOptions: [String]
    }

    public static func read(_ read: (String) -> String?) -> ResourceLimits {
        let groups = parseProcCgroup(read("/proc/self/cgroup") ?? "")
        let mounts = parseMountinfo(read("/proc/self/mountinfo") ?? "")
        var out = ResourceLimits()
        // v1
        if let dir = v1Directory(controller: "memory", groups, mounts) {
            if let v = tightest(along: dir, read, { read in
                read("memory.limit_in_bytes").flatMap { Int64($0.trimmingSpaces) }.flatMap { $0 >= 1 << 62 ? nil : $0 }
            }) {
                (out.memoryBytes, out.memorySource) = (v, "cgroup v1")
            }
        }
        if let dir = v1Directory(controller: "cpu", groups, mounts) {
            if let v = tightest(along: dir, read, { read -> Double? in
                guard let q = read("cpu.cfs_quota_us").flatMap({ Int64($0.trimmingSpaces) }), q > 0,
                      let p = read("cpu.cfs_period_us").flatMap({ Int64($0.trimmingSpaces) }), p > 0 else { return nil }
                return Double(q) / Double(p)
            }) {
                (out.cpuCores, out.cpuSource) = (v, "cgroup v1")
            }
        }
        // v2, for what v1 did not give
        if let dir = v2Directory(groups, mounts) {
            if out.memoryBytes == nil, let v = tightest(along: dir, read, { read -> Int64? in
                let limits = ["memory.max", "memory.high"].compactMap { read($0).flatMap(parseV2Max) }
                return limits.min()
            }) {
                (out.memoryBytes, out.memorySource) = (v, "cgroup v2")
            }
            if out.cpuCores == nil, let v = tightest(along: dir, read, { read -> Double? in
                guard let fields = read("cpu.max")?.split(whereSeparator: { $0 == " " || $0 == "\n" }), fields.count >= 1,
                      let q = Int64(fields[0]), q > 0 else { return nil }
                let p = fields.count > 1 ? Int64(fields[1]) ?? 100_000 : 100_000
                return p > 0 ? Double(q) / Double(p) : nil
            }) {
                (out.cpuCores, out.cpuSource) = (v, "cgroup v2")
            }
        }
        return out
    }

    /// `hierarchy-ID:controller-list:cgroup-path` lines.
    public static func parseProcCgroup(_ text: String) -> [Membership] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3, let id = Int(f[0]) else { return nil }
            return Membership(hierarchy: id, controllers: f[1].split(separator: ",").map(String.init), path: String(f[2]))
        }
    }

    /// The cgroup mounts of `/proc/self/mountinfo`: `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS
    /// [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS`.
    public static func parseMountinfo(_ text: String) -> [Mount] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ").map(String.init)
            guard let dash = f.firstIndex(of: "-"), dash >= 5, f.count >= dash + 3 else { return nil }
            let type = f[dash + 1]
            guard type == "cgroup" || type == "cgroup2" else { return nil }
            let superOptions = f.count > dash + 3 ? f[dash + 3].split(separator: ",").map(String.init) : []
            return Mount(root: unescape(f[3]), mountPoint: unescape(f[4]), fsType: type, superOptions: superOptions)
        }
    }

    /// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        let b = Array(s.utf8)
        var out = [UInt8](), i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func v1Directory(controller: String, _ groups: [Membership], _ mounts: [Mount]) -> GroupDirectory? {
        guard let g = groups.first(where: { $0.hierarchy != 0 && $0.controllers.contains(controller) }),
              let m = mounts.first(where: { $0.fsType == "cgroup" && $0.superOptions.contains(controller) }) else { return nil }
        return directory(group: g.path, mount: m)
    }

    static func v2Directory(_ groups: [Membership], _ mounts: [Mount]) -> GroupDirectory? {
        guard let g = groups.first(where: { $0.hierarchy == 0 && $0.controllers.isEmpty }),
              let m = mounts.first(where: { $0.fsType == "cgroup2" }) else { return nil }
        return directory(group: g.path, mount: m)
    }

    /// The group's directory: the mount point plus the group's path below the mount's root. In
    /// a container the mount's root is the container's own group ("/kubepods/…"), and
    /// /proc/self/cgroup may name that same path or "/" (a cgroup namespace).
    static func directory(group: String, mount: Mount) -> GroupDirectory {
        var relative = group
        if mount.root != "/" {
            if group == mount.root {
                relative = "/"
            } else if group.hasPrefix(mount.root + "/") {
                relative = String(group.dropFirst(mount.root.count))
            }
        }
        let base = mount.mountPoint.hasSuffix("/") ? String(mount.mountPoint.dropLast()) : mount.mountPoint
        return GroupDirectory(path: relative == "/" ? base : base + relative, mountPoint: base)
    }

    struct GroupDirectory {
        var path: String
        var mountPoint: String
    }

    /// The smallest limit from the group's directory up to the mount point (a group is held by
    /// its parents' limits). `limit` reads the files of one directory, by name.
    static func tightest<T: Comparable>(along dir: GroupDirectory, _ read: (String) -> String?, _ limit: ((String) -> String?) -> T?) -> T? {
        var best: T?
        var d = dir.path
        for _ in 0..<64 {
            let here = d
            let found = withoutActuallyEscaping(read) { read in limit { read(here + "/" + $0) } }
            if let v = found { best = best.map { min($0, v) } ?? v }
            guard d.count > dir.mountPoint.count, d.hasPrefix(dir.mountPoint), let slash = d.lastIndex(of: "/") else { break }
            d = String(d[..<slash])
        }
        return best
    }

    /// `memory.max` / `memory.high`: bytes, or "max".
    static func parseV2Max(_ text: String) -> Int64? {
        let t = text.trimmingSpaces
        guard t != "max", let v = Int64(t), v < 1 << 62 else { return nil }
        return v
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(self.drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\n" || $0 == "\t" }.reversed())
    }
}

extension String {
    /// A number with `digits` decimals at most, trailing zeros dropped ("0.5", "1.25").
    init(format1 value: Double, digits: Int = 1) {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let r = (value * scale).rounded() / scale
        var s = String(r)
        if s.hasSuffix(".0") { s.removeLast(2) }
        self = s
    }
}
