import PluginSupport
import Dispatch
import Glibc
import Synchronization

/// SIGTERM / SIGINT, caught from the moment `watch` is called; `wait` returns the first one's
/// name. The signal sources stay alive as long as the caller keeps the array it got.
final class TerminationSignal: Sendable {
    private let received = Locked<(name: String?, waiter: CheckedContinuation<String, Never>?)>((nil, nil))

    static func watch() -> (TerminationSignal, [any DispatchSourceSignal]) {
        let t = TerminationSignal()
        let queue = DispatchQueue(label: "signals")
        var sources: [any DispatchSourceSignal] = []
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { t.fire(name) }
            s.resume()
            sources.append(s)
        }
        return (t, sources)
    }

    private func fire(_ name: String) {
        let w = received.withLock { r -> CheckedContinuation<String, Never>? in
            guard r.name == nil else { return nil }
            r.name = name
            defer { r.waiter = nil }
            return r.waiter
        }
        w?.resume(returning: name)
    }

    func wait() async -> String {
        await withCheckedContinuation { c in
            let already = received.withLock { r -> String? in
                if let n = r.name { return n }
                r.waiter = c
                return nil
            }
            if let already { c.resume(returning: already) }
        }
    }
}
