import Foundation
import PluginRPC

/// `gc.when`: Delete removes artifacts only of workflows with the chosen outcome. Argo runs
/// Delete in a GC pod labelled with the workflow's name; the plugin reads that workflow's
/// `status.phase` through the in-cluster API (once per workflow) and keeps the objects when the
/// phase does not match, answering success so Argo can finish its GC.
public final class OutcomePolicy: @unchecked Sendable {
    public enum Decision: Equatable, Sendable {
        case delete(reason: String)
        case keep(reason: String)
    }

    private let environment: [String: String]
    private let phases = Locked([String: Result<String, KubernetesError>]())
    private let lookups = Locked(0)

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Workflow lookups made (each workflow is fetched once).
    public var lookupCount: Int { lookups.current }

    public func decide(_ gc: GCSettings) async -> Decision {
        guard gc.when != .always else { return .delete(reason: "gc.when is Always") }
        let outcome = await workflowPhase()
        switch outcome {
        case .success(let (workflow, phase)):
            let matches: Bool
            switch gc.when {
            case .always: matches = true
            case .succeeded: matches = phase == "Succeeded"
            case .failed: matches = phase == "Failed" || phase == "Error"
            }
            let why = "workflow \(workflow) is \(phase), gc.when is \(gc.when.rawValue)"
            return matches ? .delete(reason: why) : .keep(reason: "kept by policy: \(why)")
        case .failure(let e):
            let why = "the workflow's outcome is unknown (\(e.message)); gc.onUnknown is \(gc.onUnknown.rawValue)"
            return gc.onUnknown == .delete ? .delete(reason: why) : .keep(reason: "kept by policy: \(why)")
        }
    }

    /// (workflow name, phase) of the workflow this pod belongs to.
    func workflowPhase() async -> Result<(String, String), KubernetesError> {
        let k8s: KubernetesClient
        do {
            k8s = try KubernetesClient(environment: environment)
        } catch let e as KubernetesError {
            return .failure(e)
        } catch {
            return .failure(KubernetesError(message: "\(error)"))
        }
        let name: String
        do {
            name = try await workflowName(k8s)
        } catch let e as KubernetesError {
            return .failure(e)
        } catch {
            return .failure(KubernetesError(message: "\(error)"))
        }
        if let cached = phases.withLock({ $0[name] }) { return cached.map { (name, $0) } }
        lookups.withLock { $0 += 1 }
        let result: Result<String, KubernetesError>
        do {
            let wf = try await k8s.get("/apis/argoproj.io/v1alpha1/namespaces/\(URIEncoding.encode(k8s.namespace))/workflows/\(URIEncoding.encode(name))",
                                       what: "workflow \(name)")
            if let status = wf["status"] as? [String: Any], let phase = status["phase"] as? String, !phase.isEmpty {
                result = .success(phase)
            } else {
                result = .success("Pending")
            }
        } catch let e as KubernetesError {
            result = .failure(e)
        } catch {
            result = .failure(KubernetesError(message: "\(error)"))
        }
        // A phase, or a definite "may not" / "gone", holds for the life of the pod; a network
        // error or a 5xx may not, so the next Delete asks again.
        switch result {
        case .success: phases.withLock { $0[name] = result }
        case .failure(let e) where e.status == 403 || e.status == 404: phases.withLock { $0[name] = result }
        case .failure: break
        }
        return result.map { (name, $0) }
    }

    /// From ARGO_WORKFLOW_NAME when Argo set it, otherwise from this pod's
    /// `workflows.argoproj.io/workflow` label.
    func workflowName(_ k8s: KubernetesClient) async throws -> String {
        if let n = environment["ARGO_WORKFLOW_NAME"], !n.isEmpty { return n }
        guard let pod = environment["ARGO_POD_NAME"] ?? environment["POD_NAME"] ?? environment["HOSTNAME"], !pod.isEmpty else {
            throw KubernetesError(message: "cannot tell which pod this is (no ARGO_POD_NAME or HOSTNAME)")
        }
        let obj = try await k8s.get("/api/v1/namespaces/\(URIEncoding.encode(k8s.namespace))/pods/\(URIEncoding.encode(pod))", what: "pod \(pod)")
        guard let meta = obj["metadata"] as? [String: Any], let labels = meta["labels"] as? [String: Any],
              let wf = labels["workflows.argoproj.io/workflow"] as? String else {
            throw KubernetesError(message: "pod \(pod) has no workflows.argoproj.io/workflow label (is this an Argo GC pod?)")
        }
        return wf
    }
}
