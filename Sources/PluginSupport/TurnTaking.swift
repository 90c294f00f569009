/// Lets tasks run a section one at a time, in arrival order, without a thread held while they
/// wait (a mutex for async code). Built on `Locked.park`, so it has the one cancellation rule: a
/// waiter cancelled before its turn returns at once with `CancellationError`; one whose turn
/// came keeps it and runs its section.
///
/// Why a Load needs it: its ranges write one file, and two `pwrite`s to one inode at once make
/// the second spin on the inode's lock in the kernel (`rwsem_spin_on_owner`: 10-12 % of a
/// 1 GiB Load's CPU at 0.5 CPU, measured with perf). Taking turns costs nothing there: one
/// thread writing copies into the page cache as fast as the store delivers.
public final class TurnTaking: Sendable {
    private struct State: ParkingState {
        var taken = false
        var waiters: [ParkedWaiter<Void>] = []
        var tickets = WaiterTickets()
    }
    private let state = Locked(State())

    public init() {}

    /// Tasks waiting for their turn (for tests).
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// Runs `section` when it is this task's turn (in the caller's isolation); the next
    /// waiter's turn starts when it returns or throws.
    public func run<T>(isolation: isolated (any Actor)? = #isolation, _ section: () async throws -> T) async throws -> T {
        try await state.park({ s, id, c in
            if !s.taken {
                s.taken = true
                return .success(())
            }
            s.waiters.append(ParkedWaiter(id: id, continuation: c))
            return nil
        }, unpark: { s, id in
            guard let i = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }   // its turn came already
            return s.waiters.remove(at: i).continuation
        })
        defer { pass() }
        return try await section()
    }

    /// Hands the turn to the longest waiter, or frees it.
    private func pass() {
        let next = state.withLock { s -> CheckedContinuation<Void, Error>? in
            guard !s.waiters.isEmpty else {
                s.taken = false
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}
