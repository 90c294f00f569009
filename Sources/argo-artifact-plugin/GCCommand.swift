import ArgumentParser
import ArtifactCore
import ArtifactService
import Foundation
import Logging
import StoreRuntime
import PluginSupport

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
        let format = ProcessInfo.processInfo.environment["ARGO_PLUGIN_LOG_FORMAT"].flatMap(LogFormat.init(rawValue:)) ?? .text
        LoggingSystem.bootstrap { LineLogHandler(label: $0, level: .warning, format: format) }
        let text: String
        do {
            let path = config
            text = try await IOPool.shared.run { try String(contentsOfFile: path, encoding: .utf8) }
        } catch {
            throw ValidationError("cannot read --config \(config): \(error.localizedDescription)")
        }
        let store: ArtifactStore
        do {
            let factory = StoreFactory()
            store = try factory.make(try factory.parser.parse(text), environment: StoreEnvironment())
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
            await LogWriter.shared.flush()
            throw ExitCode(1)
        }
        await LogWriter.shared.flush()
    }
}
