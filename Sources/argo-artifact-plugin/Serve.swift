import ArgumentParser
import ArtifactCore
import ArtifactService
import Checksums
import CSystem
import Foundation
import Logging
import StoreRuntime
import PluginHTTP2
import PluginRPC
import PluginSupport

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the artifact service on a Unix socket (the default).")

    @Argument(help: "Unix socket path, e.g. /tmp/artifact-plugins/my-plugin/socket")
    var socket: String

    @Option(help: "Seconds in-flight calls get to finish after SIGTERM before they are cancelled.")
    var gracePeriod: Int = Int(ProcessInfo.processInfo.environment["ARGO_PLUGIN_GRACE_PERIOD"] ?? "") ?? 25

    @Option(help: "Largest request message accepted, e.g. 4Mi (grpc-go's default).")
    var maxReceiveMessageSize: String = ProcessInfo.processInfo.environment["ARGO_PLUGIN_MAX_RECEIVE_MESSAGE_SIZE"] ?? "4Mi"

    @Option(help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = ProcessInfo.processInfo.environment["ARGO_PLUGIN_LOG_LEVEL"] ?? "info"

    @Option(help: "text, or json: one object per line with Argo's keys (time, level, msg) and each call's fields.")
    var logFormat: String = ProcessInfo.processInfo.environment["ARGO_PLUGIN_LOG_FORMAT"] ?? "text"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard LogFormat(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format (ARGO_PLUGIN_LOG_FORMAT) must be text or json, got '\(Echo.clip(logFormat, limit: 64))'")
        }
        guard let n = Quantities.parseSize(maxReceiveMessageSize), n > 0, n <= Int64(Int32.max) else {
            throw ValidationError("--max-receive-message-size must be a size such as 4Mi, got '\(maxReceiveMessageSize)'")
        }
        guard gracePeriod >= 0 else { throw ValidationError("--grace-period must be ≥ 0") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        let format = LogFormat(rawValue: logFormat)!
        LoggingSystem.bootstrap { LineLogHandler(label: $0, level: level, format: format) }
        // The container's limits (cgroup, or the Downward API's variables) size the memory
        // budget and the concurrency, before the I/O pool starts.
        let plan: ResourcePlan
        do {
            plan = ResourcePlan.make(try ResourceLimits.discover(environment: ProcessInfo.processInfo.environment))
        } catch {
            Logger(label: "argo-artifact-plugin").critical("cannot start: \(error)")
            await LogWriter.shared.flush()
            throw ExitCode(1)
        }
        IOPool.sizeShared(threads: plan.ioThreads)
        argo_size_malloc_for_transfers(Int32(4 << 20), Int32(plan.heapTrimThreshold))
        // Libraries that read files on first use (OpenSSL's configuration, the C library's time
        // zone data) are started here, on an I/O thread, before anything else needs them.
        try await IOPool.shared.run {
            Digest.prepare()
            _ = HTTPDate.components(HTTPDate.now())
        }
        let logger = Logger(label: "argo-artifact-plugin")
        signal(SIGPIPE, SIG_IGN)

        // Signals are watched before the socket exists: Argo may send SIGTERM the moment it sees it.
        let termination = TerminationSignal.watch()

        // Work that outlives a call (late clean-up after a failed directory Save) belongs to the
        // server's lifetime: it runs beside the server and finishes before the process exits.
        let deferred = DeferredWork()
        let environment = StoreEnvironment(budget: MemoryBudget(limit: plan.budgetBytes, origin: plan.origin),
                                           transferConcurrency: plan.transferConcurrency, deferred: deferred)
        let rpc = RPCRouter(service: ArtifactServiceHandler(environment: environment).rpcService,
                                    maxReceiveMessageSize: Int(Quantities.parseSize(maxReceiveMessageSize)!),
                                    logger: logger)
        let server = try HTTP2Server(configuration: .init(socketPath: socket), handler: rpc, logger: logger)
        do {
            try await IOPool.shared.run { try server.start() }
        } catch {
            logger.critical("cannot start: \(error)")
            await LogWriter.shared.flush()
            throw ExitCode(1)
        }
        logger.info("argo-artifact-plugin \(PluginVersion.current) serving gRPC and JSON on \(socket); limits: \(plan.limits.summary); \(plan.summary)")

        let grace = gracePeriod
        enum Companion { case deferredWork, heapTrim }
        await withTaskGroup(of: Companion.self) { group in
            group.addTask { await deferred.run(); return .deferredWork }
            group.addTask { await IdleHeapTrim.run(server, logger: logger); return .heapTrim }
            let signalName = (try? await termination.wait()) ?? "cancelled"
            logger.info("\(signalName): shutting down (grace period \(grace)s, \(server.inFlight) call(s) in flight)")
            await server.shutdown(grace: .seconds(grace))
            if deferred.pending > 0 { logger.info("running \(deferred.pending) deferred clean-up job(s) before exiting") }
            deferred.finish()
            // The clean-up jobs run to their end (not cancelled); then the heap trim stops.
            for await done in group where done == .deferredWork { group.cancelAll() }
        }
        logger.info("stopped")
        await LogWriter.shared.flush()
    }
}
