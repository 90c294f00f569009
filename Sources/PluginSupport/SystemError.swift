import Glibc

/// An errno-carrying failure of a system call, with the call named.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let code: Int32
    public init(call: String, code: Int32) {
        self.call = call
        self.code = code
    }
    public var description: String { "\(call): \(String(cString: strerror(code)))" }
    public static func last(_ call: String) -> SystemError { SystemError(call: call, code: errno) }
}
