import PluginSupport
import Dispatch
import Glibc
import Synchronization

/// SIGTERM / SIGINT, caught from the moment `watch` is called; `wait` returns the first one's
/// name. The signal sources stay alive as long as the caller keeps the array it got.
final class TerminationSignal: Sendable {
    private struct Received: ParkingState {
        var name: String?
        var waiter: ParkedWaiter<String>?
        var tickets = WaiterTickets()
    }
    private let received = Locked(Received())

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
        let w = received.withLock { r -> CheckedContinuation<String, Error>? in
            guard r.name == nil else { return nil }
            r.name = name
            return r.waiter.take()
        }
        w?.resume(returning: name)
    }

    /// The signal's name; throws `CancellationError` if the waiting task is cancelled first.
    func wait() async throws -> String {
        try await received.park({ r, id, c in
            if let n = r.name { return .success(n) }
            r.waiter = ParkedWaiter(id: id, continuation: c)
            return nil
        }, unpark: { r, id in r.waiter.unpark(id) })
    }
}
