import ArgumentParser
import ArtifactPlugin
import Dispatch
import Foundation
import Logging
import PluginHTTP2
import PluginRPC

@main
struct PluginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "argo-artifact-plugin",
        abstract: "Argo Workflows artifact driver plugin: OSS, S3-compatible stores and local directories.",
        discussion: """
        Argo starts it as a sidecar with one argument, the Unix socket to serve gRPC on:
          argo-artifact-plugin /tmp/artifact-plugins/<name>/socket
        The same RPCs answer as JSON under /api/v1/artifacts/ on that socket (HTTP/2).
        """,
        version: PluginVersion.current,
        subcommands: [Serve.self, GC.self, ConfigCommand.self, Version.self],
        defaultSubcommand: Serve.self
    )
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() {
        print("argo-artifact-plugin \(PluginVersion.current)")
    }
}

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

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard let n = Quantities.parseSize(maxReceiveMessageSize), n > 0, n <= Int64(Int32.max) else {
            throw ValidationError("--max-receive-message-size must be a size such as 4Mi, got '\(maxReceiveMessageSize)'")
        }
        guard gracePeriod >= 0 else { throw ValidationError("--grace-period must be ≥ 0") }
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel)!
        LoggingSystem.bootstrap { LineLogHandler(label: $0, level: level) }
        let logger = Logger(label: "argo-artifact-plugin")
        signal(SIGPIPE, SIG_IGN)

        let rpc = ArtifactRPCServer(service: PluginService(),
                                    maxReceiveMessageSize: Int(Quantities.parseSize(maxReceiveMessageSize)!),
                                    logger: logger)
        // Signals are watched before the socket exists: Argo may send SIGTERM the moment it sees it.
        let termination = TerminationSignal()
        let server = try HTTP2Server(configuration: .init(socketPath: socket), handler: rpc, logger: logger)
        do {
            try server.start()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        logger.info("argo-artifact-plugin \(PluginVersion.current) serving gRPC and JSON on \(socket)")

        let signalName = await termination.wait()
        logger.info("\(signalName): shutting down (grace period \(gracePeriod)s, \(server.inFlight) call(s) in flight)")
        await server.shutdown(grace: .seconds(gracePeriod))
        logger.info("stopped")
    }
}

/// SIGTERM / SIGINT, caught from the moment this is created; `wait` returns the first one's name.
final class TerminationSignal: @unchecked Sendable {
    private let received = Locked<(name: String?, waiter: CheckedContinuation<String, Never>?)>((nil, nil))
    private var sources: [DispatchSourceSignal] = []

    init() {
        let queue = DispatchQueue(label: "signals")
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler { [weak self] in self?.fire(name) }
            s.resume()
            sources.append(s)
        }
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

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Sweep a store: delete objects older than a threshold under a prefix, abort abandoned uploads.",
        discussion: """
        For artifacts Argo's GC never saw (workflows deleted without GC, runs that crashed).
        The configuration file holds the same YAML as an artifact repository's plugin.configuration.
        Example: argo-artifact-plugin gc --config repo.yaml --prefix my-wf- --older-than 30d --abort-uploads-older-than 24h --dry-run
        """)

    @Option(help: "File with the store configuration (the plugin.configuration YAML).")
    var config: String

    @Option(help: "Only keys starting with this prefix. Required unless --all-prefixes.")
    var prefix: String = ""

    @Flag(help: "Allow an empty prefix: sweep the whole bucket or root.")
    var allPrefixes = false

    @Option(help: "Delete objects last modified longer ago than this (e.g. 30d, 12h).")
    var olderThan: String

    @Option(help: "Also abort unfinished uploads started longer ago than this (e.g. 24h).")
    var abortUploadsOlderThan: String?

    @Flag(help: "List what would be deleted; change nothing.")
    var dryRun = false

    func validate() throws {
        guard Quantities.parseDuration(olderThan) != nil else { throw ValidationError("--older-than takes a duration such as 30d or 12h, got '\(olderThan)'") }
        if let a = abortUploadsOlderThan, Quantities.parseDuration(a) == nil {
            throw ValidationError("--abort-uploads-older-than takes a duration such as 24h, got '\(a)'")
        }
        if prefix.isEmpty && !allPrefixes {
            throw ValidationError("refusing to sweep without --prefix (that is the whole store); add --all-prefixes if you mean it")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { LineLogHandler(label: $0, level: .warning) }
        let text: String
        do {
            text = try String(contentsOfFile: config, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read --config \(config): \(error.localizedDescription)")
        }
        let store: ArtifactStore
        do {
            store = try PluginService.makeStore(try ConfigParser.parse(text))
        } catch {
            print("error: \(error)")
            throw ExitCode(2)
        }
        // ARGO_PLUGIN_NOW moves the clock (tests make objects "old" that way).
        let now = ProcessInfo.processInfo.environment["ARGO_PLUGIN_NOW"].flatMap { Int64($0) } ?? Int64(Date().timeIntervalSince1970)
        let options = Sweeper.Options(prefix: prefix, olderThan: Quantities.parseDuration(olderThan)!,
                                      abortUploadsOlderThan: abortUploadsOlderThan.flatMap(Quantities.parseDuration),
                                      dryRun: dryRun, now: now)
        do {
            _ = try await Sweeper(store: store, say: { print($0) }).run(options)
        } catch {
            print("error: \(error)")
            throw ExitCode(1)
        }
    }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Work with plugin configurations (the plugin.configuration YAML).",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a configuration as the plugin reads it; print it with every default, or say what is wrong.",
            discussion: """
            Reads FILE, or standard input for '-'. A valid configuration is printed as YAML with every
            default filled in (Secrets appear as their {name, key} references, an inline securityToken as
            <hidden>) and the exit status is 0; an invalid one prints the error naming the field and the
            line, with exit status 1. Nothing is contacted: credentials and buckets are not tried.
            """)

        @Argument(help: "The configuration file, or - for standard input.")
        var file: String

        func run() throws {
            let text: String
            do {
                if file == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    text = try String(contentsOfFile: file, encoding: .utf8)
                }
            } catch {
                throw ValidationError("cannot read \(file): \(error.localizedDescription)")
            }
            do {
                let config = try ConfigParser.parse(text)
                _ = try PluginService.makeStore(config)
                print(config.yamlDescription, terminator: "")
            } catch let e as ConfigError {
                FileHandle.standardError.write(Data("error: \(e)\n".utf8))
                throw ExitCode(1)
            } catch let e as CredentialError {
                // Found in this machine's environment (useSDKCreds): the pod's may differ.
                print(try ConfigParser.parse(text).yamlDescription, terminator: "")
                FileHandle.standardError.write(Data("note: \(e) (here; the pod's environment may differ)\n".utf8))
            }
        }
    }
}
