import CSystem
import Logging
import PluginHTTP2
import PluginSupport

/// Freed memory goes back to the system once no call has run for a second. glibc keeps freed
/// chunks inside its arenas (a soak showed 42 MB held for 4 MB in use), so a sidecar that has
/// moved gigabytes would otherwise keep tens of MiB it no longer uses until its pod ends. Once
/// per quiet spell, on the I/O pool (malloc_trim walks the arenas and blocks).
enum IdleHeapTrim {
    static func run(_ server: HTTP2Server, logger: Logger) async {
        var seen = -1, trimmedAfter = 0
        while true {
            do { try await Timers.sleep(for: .seconds(1)) } catch { return }
            let started = server.callsStarted
            if server.inFlight == 0, started == seen, started != trimmedAfter {
                let heap = try? await IOPool.shared.run { () -> argo_heap_usage in
                    _ = argo_trim_heap()
                    return argo_heap_now()
                }
                // What an idle sidecar holds, for leak hunts (--log-level debug; make soak prints it).
                if let heap {
                    logger.debug("idle heap after trim: \(heap.in_use >> 10) KiB in use, \(heap.free_in_arenas >> 10) KiB free in arenas, \(heap.mapped >> 10) KiB mapped")
                }
                trimmedAfter = started
            }
            seen = started
        }
    }
}
