/// `gc.when` as a decision table: whether Delete removes the artifacts of a workflow that ended
/// in `phase`, and what to do when the phase cannot be learned (`gc.onUnknown`). Pure: the
/// phase comes from the Kubernetes API elsewhere.
public enum GCDecision: Equatable, Sendable {
    case delete(reason: String)
    case keep(reason: String)

    public var deletes: Bool {
        if case .delete = self { return true }
        return false
    }

    /// With the workflow's phase known.
    public static func decide(_ gc: GCSettings, workflow: String, phase: String) -> GCDecision {
        let matches: Bool
        switch gc.when {
        case .always: matches = true
        case .succeeded: matches = phase == "Succeeded"
        case .failed: matches = phase == "Failed" || phase == "Error"
        }
        let why = "workflow \(workflow) is \(phase), gc.when is \(gc.when.rawValue)"
        return matches ? .delete(reason: why) : .keep(reason: "kept by policy: \(why)")
    }

    /// When the phase is unknown (`why` says why).
    public static func decideUnknown(_ gc: GCSettings, why: String) -> GCDecision {
        let text = "the workflow's outcome is unknown (\(why)); gc.onUnknown is \(gc.onUnknown.rawValue)"
        return gc.onUnknown == .delete ? .delete(reason: text) : .keep(reason: "kept by policy: \(text)")
    }
}
