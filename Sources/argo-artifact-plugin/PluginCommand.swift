import ArgumentParser
import PluginSupport

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
