import CSystem
import Glibc
import PluginSupport

/// Errors starting to listen, worded for the operator who reads the pod log.
public enum ListenError: Error, CustomStringConvertible, Sendable {
    case pathTooLong(String, Int)
    case alreadyServed(String)
    case notASocket(String)
    case system(String, SystemError)

    public var description: String {
        switch self {
        case .pathTooLong(let p, let max):
            return "socket path \(p) is \(p.utf8.count) bytes; Unix sockets allow at most \(max)"
        case .alreadyServed(let p):
            return "another server is already answering on \(p); refusing to replace a live socket"
        case .notASocket(let p):
            return "\(p) exists and is not a socket; refusing to delete it"
        case .system(let p, let e):
            return "cannot listen on \(p): \(e)"
        }
    }
}

/// A listening Unix stream socket. A stale socket file left by a dead process is replaced;
/// a live one is refused. The socket is made connectable by every user in the pod.
public final class UnixListener: Sendable {
    public let path: String
    public let fd: Int32
    private let inode: ino_t

    public init(path: String, backlog: Int32 = 512) throws {
        self.path = path
        let maxLen = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1
        guard path.utf8.count <= maxLen else { throw ListenError.pathTooLong(path, maxLen) }

        try UnixListener.createParentDirectory(of: path)
        try UnixListener.removeStaleSocket(at: path)

        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw ListenError.system(path, .last("socket")) }
        var addr = UnixListener.address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else {
            let e = SystemError.last("bind")
            Glibc.close(s)
            throw ListenError.system(path, e)
        }
        // Argo's containers may run as different non-root users: everyone may connect.
        chmod(path, 0o777)
        var st = stat()
        inode = lstat(path, &st) == 0 ? st.st_ino : 0
        guard listen(s, backlog) == 0 else {
            let e = SystemError.last("listen")
            Glibc.close(s)
            unlink(path)
            throw ListenError.system(path, e)
        }
        fd = s
    }

    /// Accepts one pending connection, non-blocking; nil when none is waiting.
    public func accept() -> Int32? {
        let c = argo_accept_nonblocking(fd)
        guard c >= 0 else { return nil }
        // A larger send buffer (the kernel caps it at net.core.wmem_max) lets one writev carry a
        // whole 1 MiB stream message, so the loop wakes less often while a client reads.
        var size: Int32 = Self.sendBuffer
        _ = setsockopt(c, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        return c
    }

    static let sendBuffer: Int32 = 2 << 20

    /// Stops listening and removes the socket file (only if it is still ours).
    public func close() {
        var st = stat()
        if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK, st.st_ino == inode {
            unlink(path)
        }
        Glibc.close(fd)
    }

    static func address(_ path: String) -> sockaddr_un {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    static func createParentDirectory(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let dir = String(path[..<slash])
        var components: [String] = []
        var current = ""
        for part in dir.split(separator: "/", omittingEmptySubsequences: true) {
            current += "/" + part
            components.append(current)
        }
        if !dir.hasPrefix("/") { components = components.map { String($0.dropFirst()) } }
        for c in components where mkdir(c, 0o755) != 0 && errno != EEXIST {
            throw ListenError.system(path, .last("mkdir \(c)"))
        }
    }

    /// A leftover socket file that nobody answers on is stale: remove it.
    static func removeStaleSocket(at path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw ListenError.notASocket(path) }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw ListenError.system(path, .last("socket")) }
        defer { Glibc.close(probe) }
        var addr = address(path)
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc == 0 { throw ListenError.alreadyServed(path) }
        guard unlink(path) == 0 || errno == ENOENT else { throw ListenError.system(path, .last("unlink")) }
    }
}
