import ArgumentParser
import ArtifactCore
import ArtifactService
import Foundation
import ObjectStore
import PluginSupport
import StoreRuntime

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
            default filled in (Secrets appear as their {name, key} references, a secret written inline as
            <hidden>) and the exit status is 0; an invalid one prints the error naming the field and the
            line, with exit status 1. Nothing is contacted: credentials and buckets are not tried.
            """)

        @Argument(help: "The configuration file, or - for standard input.")
        var file: String

        /// What this process's limits make of the configuration, as YAML comments: the same
        /// discovery the server runs at start (in the sidecar, run it there to see the pod's).
        static func limitsDescription(_ c: PluginConfiguration) throws -> String {
            let plan = ResourcePlan.make(try ResourceLimits.discover(environment: ProcessInfo.processInfo.environment))
            let budget = ResourceLimits.mebibytes(Int64(plan.budgetBytes))
            let cap = ResourceLimits.mebibytes(min(c.multipart.memoryLimit, Int64(plan.budgetBytes)))
            return """
            # limits of this process: \(plan.limits.summary)
            # plan: \(plan.summary)
            # so one upload holds at most \(cap) (multipart.memoryLimit within the \(budget) budget), \
            \(min(c.multipart.concurrency, plan.transferConcurrency)) parts in flight; one load \(min(c.load.concurrency, plan.transferConcurrency)) ranges

            """
        }

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
                let factory = StoreFactory()
                let config = try factory.parser.parse(text)
                _ = try factory.make(config, environment: StoreEnvironment())
                print(config.yamlDescription, terminator: "")
                print(try Self.limitsDescription(config), terminator: "")
            } catch let e as ConfigError {
                FileHandle.standardError.write(Data("error: \(e)\n".utf8))
                throw ExitCode(1)
            } catch let e as CredentialError {
                // Found in this machine's environment (useSDKCreds): the pod's may differ.
                print(try StoreProviders.parser.parse(text).yamlDescription, terminator: "")
                FileHandle.standardError.write(Data("note: \(e) (here; the pod's environment may differ)\n".utf8))
            }
        }
    }
}
