import CSystem
import PluginHTTP2
import PluginSupport

/// Freed memory goes back to the system once no call has run for a second. glibc keeps freed
/// chunks inside its arenas (a soak showed 42 MB held for 4 MB in use), so a sidecar that has
/// moved gigabytes would otherwise keep tens of MiB it no longer uses until its pod ends. Once
/// per quiet spell, on the I/O pool (malloc_trim walks the arenas and blocks).
enum IdleHeapTrim {
    static func run(_ server: HTTP2Server) async {
        var seen = -1, trimmedAfter = 0
        while true {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            let started = server.callsStarted
            if server.inFlight == 0, started == seen, started != trimmedAfter {
                _ = try? await IOPool.shared.run { argo_trim_heap() }
                trimmedAfter = started
            }
            seen = started
        }
    }
}
