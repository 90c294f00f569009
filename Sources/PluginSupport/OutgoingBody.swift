/// What a request sends: the one body type from the transfer engines through the stores down to
/// the HTTP client. Bytes already in memory (a stream's part buffer, a small file, an XML
/// document) are read in place, never copied first; a file region is read by the HTTP client
/// on the I/O pool while it sends it (again on each attempt), so memory does not grow with it.
public enum OutgoingBody: Sendable {
    case none
    case bytes(ArraySlice<UInt8>)
    case file(FileDescriptor, offset: Int64, length: Int64)

    public static func bytes(_ b: [UInt8]) -> OutgoingBody { .bytes(b[...]) }

    public var length: Int64 {
        switch self {
        case .none: return 0
        case .bytes(let b): return Int64(b.count)
        case .file(_, _, let length): return length
        }
    }
}
