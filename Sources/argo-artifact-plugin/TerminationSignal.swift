import CSystem
import Glibc
import PluginSupport
import Synchronization

/// SIGTERM / SIGINT, caught from the moment `watch` returns (the handler is installed before it
/// does, so a signal sent the instant the socket appears is never lost); `wait` returns the
/// first one's name. A thread of its own reads the handler's pipe.
final class TerminationSignal: Sendable {
    private struct Received: ParkingState {
        var name: String?
        var waiter: ParkedWaiter<String>?
        var tickets = WaiterTickets()
    }
    private let received = Locked(Received())

    static func watch() -> TerminationSignal {
        let t = TerminationSignal()
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe: \(errno)")
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        precondition(argo_catch_termination_signals(ends[1]) == 0, "sigaction: \(errno)")
        let readEnd = ends[0]
        SystemThread.start(name: "signals") {
            while true {
                var b: UInt8 = 0
                let n = read(readEnd, &b, 1)
                if n < 0 && errno == EINTR { continue }
                guard n == 1 else { return }
                t.fire(Int32(b) == SIGINT ? "SIGINT" : "SIGTERM")
            }
        }
        return t
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
