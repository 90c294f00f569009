import ArtifactCore
import Foundation
import PluginSupport
import Synchronization

/// The outcome of the workflow this GC pod belongs to, read through the in-cluster API: the
/// workflow's name from ARGO_WORKFLOW_NAME (or this pod's `workflows.argoproj.io/workflow`
/// label), then its `status.phase`. However many Deletes arrive at once, the pod is read once
/// per process and each workflow once: concurrent lookups share one request, and a definite
/// answer (a phase, 403, 404) is kept for the life of the pod.
public final class WorkflowOutcomeLookup: Sendable {
    private let environment: [String: String]
    private let kubernetes: KubernetesAccess
    private let workflowName = Locked<String?>(nil)
    private let nameLookups = SingleFlight<Int, String>()
    private let phases = Locked([String: Result<String, KubernetesError>]())
    private let phaseLookups = SingleFlight<String, String>()

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, kubernetes: KubernetesAccess? = nil) {
        self.environment = environment
        self.kubernetes = kubernetes ?? KubernetesAccess(environment: environment)
    }

    /// Pod and workflow GETs made so far.
    public var podLookupCount: Int { nameLookups.callCount }
    public var workflowLookupCount: Int { phaseLookups.callCount }

    /// (workflow name, phase) of the workflow this pod belongs to.
    public func phase() async -> Result<(workflow: String, phase: String), KubernetesError> {
        do {
            let k8s = try await kubernetes.client()
            let name = try await name(k8s)
            if let cached = phases.withLock({ $0[name] }) { return cached.map { (name, $0) } }
            do {
                let phase = try await phaseLookups.run(name) {
                    let wf = try await k8s.get("/apis/argoproj.io/v1alpha1/namespaces/\(URIEncoding.encode(k8s.namespace))/workflows/\(URIEncoding.encode(name))",
                                               what: "workflow \(name)")
                    if let status = wf["status"] as? [String: Any], let phase = status["phase"] as? String, !phase.isEmpty { return phase }
                    return "Pending"
                }
                phases.withLock { $0[name] = .success(phase) }
                return .success((name, phase))
            } catch let e as KubernetesError {
                // A definite "may not" or "gone" holds for the life of the pod; a network error
                // or a 5xx may not, so the next Delete asks again.
                if e.status == 403 || e.status == 404 { phases.withLock { $0[name] = .failure(e) } }
                return .failure(e)
            }
        } catch let e as KubernetesError {
            return .failure(e)
        } catch {
            return .failure(KubernetesError(message: "\(error)"))
        }
    }

    /// From ARGO_WORKFLOW_NAME when Argo set it, otherwise from this pod's label (read once).
    private func name(_ k8s: KubernetesClient) async throws -> String {
        if let n = environment["ARGO_WORKFLOW_NAME"], !n.isEmpty { return n }
        if let n = workflowName.withLock({ $0 }) { return n }
        guard let pod = environment["ARGO_POD_NAME"] ?? environment["POD_NAME"] ?? environment["HOSTNAME"], !pod.isEmpty else {
            throw KubernetesError(message: "cannot tell which pod this is (no ARGO_POD_NAME or HOSTNAME)")
        }
        let n = try await nameLookups.run(0) {
            let obj = try await k8s.get("/api/v1/namespaces/\(URIEncoding.encode(k8s.namespace))/pods/\(URIEncoding.encode(pod))", what: "pod \(pod)")
            guard let meta = obj["metadata"] as? [String: Any], let labels = meta["labels"] as? [String: Any],
                  let wf = labels["workflows.argoproj.io/workflow"] as? String else {
                throw KubernetesError(message: "pod \(pod) has no workflows.argoproj.io/workflow label (is this an Argo GC pod?)")
            }
            return wf
        }
        workflowName.withLock { $0 = n }
        return n
    }

    /// The GC decision for `gc` (Always needs no lookup).
    public func decide(_ gc: GCSettings) async -> GCDecision {
        guard gc.when != .always else { return .delete(reason: "gc.when is Always") }
        switch await phase() {
        case .success(let (workflow, phase)): return GCDecision.decide(gc, workflow: workflow, phase: phase)
        case .failure(let e): return GCDecision.decideUnknown(gc, why: e.message)
        }
    }
}
