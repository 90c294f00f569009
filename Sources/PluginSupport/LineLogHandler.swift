import CSystem
import Glibc
import Logging
import Synchronization

/// How log lines are written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-11-29T14:00:00.123Z info   message key=value` (the default).
    case text
    /// One JSON object per line with Argo's keys (slog's), `time`, `level` and `msg`, and the event's
    /// fields (`rpc`, `artifact`, `key`, `bytes`, `seconds`, `parts`, `retries`, `error`):
    /// what log collectors parse from Argo's own `--log-format json`.
    case json
}

/// One line per event on stderr, as text or JSON. (stderr is what the kubelet collects from a
/// sidecar.) Formatting happens in the caller; the write to stderr happens on the log's own
/// thread, so a full pipe never blocks a task, the HTTP/2 loop or the curl loop.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let format: LogFormat

    /// Fields a call's line carries for JSON; its text message already says them in words.
    public static let callFields: Set<String> = ["rpc", "artifact", "key", "bytes", "seconds", "parts", "retries", "error"]

    public init(label: String, level: Logger.Level, format: LogFormat = .text) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let explicit = event.metadata { all.merge(explicit) { $1 } }
        switch format {
        case .text:
            let shown = all.filter { !Self.callFields.contains($0.key) }
            let extra = shown.isEmpty ? "" : " " + shown.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            let level = event.level.rawValue
            let pad = String(repeating: " ", count: max(1, 8 - level.count))
            // One bounded line: a hostile value can neither flood the log nor forge a line.
            let text = Echo.cap(Echo.escape("\(event.message)\(extra)"))
            LogWriter.shared.enqueue("\(Self.timestamp()) \(level)\(pad)\(text)\n")
        case .json:
            LogWriter.shared.enqueue(Self.jsonLine(level: event.level, message: "\(event.message)", fields: all))
        }
    }

    /// `{"time":…,"level":…,"msg":…,<fields>}` and a newline; strings escaped as JSON (no line
    /// can be forged), the message and each value bounded.
    static func jsonLine(level: Logger.Level, message: String, fields: Logger.Metadata, time: String = timestamp()) -> String {
        var out = "{\"time\":\"\(time)\",\"level\":\"\(jsonLevel(level))\",\"msg\":"
        JSONText.appendString(Echo.cap(message), to: &out)
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) where !["time", "level", "msg"].contains(k) {
            out += ","
            JSONText.appendString(k, to: &out)
            out += ":"
            JSONText.appendValue(v, to: &out)
        }
        return out + "}\n"
    }

    /// Argo's level names (its `log/slog` JSON handler): DEBUG, INFO, WARN, ERROR; trace is
    /// DEBUG, notice INFO and critical ERROR, so collectors see the levels they already know.
    static func jsonLevel(_ l: Logger.Level) -> String {
        switch l {
        case .trace, .debug: return "DEBUG"
        case .info, .notice: return "INFO"
        case .warning: return "WARN"
        case .error, .critical: return "ERROR"
        }
    }

    static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        var t = time_t(ts.tv_sec)
        var tm = tm()
        gmtime_r(&t, &tm)
        func two(_ v: Int32) -> String { String(v).leftPadded(to: 2) }
        return "\(tm.tm_year + 1900)-\(two(tm.tm_mon + 1))-\(two(tm.tm_mday))T\(two(tm.tm_hour)):\(two(tm.tm_min)):\(two(tm.tm_sec))."
            + String(ts.tv_nsec / 1_000_000).leftPadded(to: 3) + "Z"
    }
}

/// The thread that writes log lines to stderr. Lines wait in a bounded buffer; when a stuck
/// reader lets it fill, new lines are dropped and counted (the count is logged once it drains).
public final class LogWriter: Sendable {
    public static let shared = LogWriter(fd: 2, limit: 4 << 20)

    private struct State: ParkingState {
        var pending: [UInt8] = []
        var dropped = 0
        var writing = false
        var flushWaiters: [Int: CheckedContinuation<Void, Error>] = [:]
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())
    private let wake: Int32
    private let fd: Int32
    private let limit: Int

    init(fd: Int32, limit: Int) {
        self.fd = fd
        self.limit = limit
        wake = eventfd(0, Int32(EFD_CLOEXEC))
        SystemThread.start(name: "log") { self.run() }
    }

    func enqueue(_ line: String) {
        let wasEmpty = state.withLock { s -> Bool in
            guard s.pending.count + line.utf8.count <= limit else {
                s.dropped += 1
                return false
            }
            let empty = s.pending.isEmpty
            s.pending.append(contentsOf: line.utf8)
            return empty
        }
        if wasEmpty { signal() }
    }

    /// Returns once every line queued so far is written (at exit), or after `timeout` when
    /// stderr is not being read.
    public func flush(timeout: Duration = .seconds(2)) async {
        let state = self.state
        await Timers.answer(of: {
            _ = try? await state.park({ s, id, c in
                if s.pending.isEmpty && !s.writing { return .success(()) }
                s.flushWaiters[id] = c
                return nil
            }, unpark: { s, id in s.flushWaiters.removeValue(forKey: id) })
        }, within: timeout, else: ())
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wake, &one, 8)
    }

    private func run() {
        while true {
            var v: UInt64 = 0
            if read(wake, &v, 8) < 0 && errno == EINTR { continue }
            while true {
                var (bytes, dropped) = state.withLock { s -> ([UInt8], Int) in
                    defer { s.pending = []; s.dropped = 0; s.writing = true }
                    return (s.pending, s.dropped)
                }
                if dropped > 0 {
                    bytes += Array("\(LineLogHandler.timestamp()) warning  \(dropped) log line(s) dropped: stderr was not being read\n".utf8)
                }
                if bytes.isEmpty {
                    let waiters = state.withLock { s -> [CheckedContinuation<Void, Error>] in
                        s.writing = false
                        guard s.pending.isEmpty else { return [] }
                        defer { s.flushWaiters = [:] }
                        return Array(s.flushWaiters.values)
                    }
                    for w in waiters { w.resume() }
                    break
                }
                var off = 0
                while off < bytes.count {
                    let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
                    if n < 0 { if errno == EINTR { continue } else { break } }
                    off += n
                }
            }
        }
    }
}
