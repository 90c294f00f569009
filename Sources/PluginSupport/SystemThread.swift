import CSystem
import Glibc

/// A named, detached system thread for a loop that blocks in system calls (the I/O pool, the
/// curl loop, the log writer, the timers), kept off Swift's cooperative pool.
public enum SystemThread {
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Context(name: name, body: body))
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let ctx = Unmanaged<Context>.fromOpaque(raw!).takeRetainedValue()
            _ = argo_set_thread_name(ctx.name)
            ctx.body()
            return nil
        }, context.toOpaque())
        precondition(rc == 0, "pthread_create: \(rc)")
        pthread_detach(tid)
    }

    private final class Context {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
