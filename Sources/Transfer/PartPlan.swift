import ArtifactCore

/// How an upload of known size is split into parts.
public struct PartPlan: Sendable, Equatable {
    public var size: Int64
    public var partSize: Int64
    public var partCount: Int

    /// Part size = max(configured, ceil(size / max parts) rounded up to 1 MiB), within the
    /// store's limits. A size the store cannot hold is refused here, before any byte is sent.
    public static func make(size: Int64, preferredPartSize: Int64, limits: PartLimits) throws -> PartPlan {
        let storeName = limits.storeName
        guard size <= limits.maxObjectSize else {
            throw ArtifactError.unsupported("cannot upload \(Quantities.formatBytes(size)) (\(size) bytes): larger than the largest object \(storeName) holds (\(Quantities.formatBytes(limits.maxObjectSize)))")
        }
        let mib: Int64 = 1 << 20
        let needed = (size + Int64(limits.maxParts) - 1) / Int64(limits.maxParts)
        let neededRounded = (needed + mib - 1) / mib * mib
        var part = max(preferredPartSize, limits.minPartSize)
        if part < needed { part = neededRounded }
        if part > limits.maxPartSize {
            // The rounding may overshoot for sizes near the limit; the exact minimum may still fit.
            part = max(needed, limits.minPartSize)
        }
        guard part <= limits.maxPartSize else {
            throw ArtifactError.unsupported("cannot upload \(Quantities.formatBytes(size)) (\(size) bytes) to \(storeName): it needs parts of \(Quantities.formatBytes(needed)), over the largest part (\(Quantities.formatBytes(limits.maxPartSize))) × \(limits.maxParts) parts")
        }
        let count = size == 0 ? 1 : Int((size + part - 1) / part)
        return PartPlan(size: size, partSize: part, partCount: count)
    }

    /// Byte range of part `n` (1-based).
    public func range(_ n: Int) -> (offset: Int64, length: Int64) {
        let offset = Int64(n - 1) * partSize
        return (offset, min(partSize, size - offset))
    }
}
