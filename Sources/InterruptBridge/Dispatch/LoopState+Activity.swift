import InterruptBridgeCore
import InterruptBridgeSystem
import Logging

/// Objects reported inactive or active by their driver (`InterruptDispatcher.deactivate`,
/// `activate`; the WDK's IoReportInterruptInactive/Active), on the loop thread
/// between batches, with the mechanism storm containment uses (`suspend`, `resume`).
///
/// An inactive object's routine is not called. A source whose objects are all
/// inactive is not watched and is suspended at the backend (VFIO detaches a
/// message's eventfd); a level line is not unmasked meanwhile, so a device that
/// raises it stays pending in the line and fires once the source is watched again.
/// An eventfd that keeps counting (INTx, the simulated backend) is read then.
///
/// With storm containment: a source is watched only while it is neither contained
/// nor inactive. A contained source reported inactive stays off after its re-arm
/// until reported active; an inactive source reported active while contained
/// stays off until re-armed.
extension LoopState {
    /// Marks the objects (those on this loop) inactive or active, then brings the
    /// watching of their sources in line.
    func setActive(_ active: Bool, _ objects: [InterruptObject]) {
        var sources: [VectorSource] = []
        for object in objects {
            guard let own = table.source(of: object), own.line.contains(object) else { continue }
            object.setInactive(!active)
            for source in table.sources(of: object) where !sources.contains(where: { $0 === source }) { sources.append(source) }
        }
        for source in sources { updateActivity(of: source) }
    }

    /// Suspends a source whose objects are all inactive, resumes one with an
    /// active object again (unless contained). Called after every change of
    /// its objects (activity, attach, detach).
    func updateActivity(of source: VectorSource) {
        guard source.slot >= 0 else { return }
        let served = objects(on: source)
        let inactive = !served.isEmpty && served.allSatisfy { !$0.isActive }
        guard inactive != source.inactive else { return }
        let vector = "vector 0x\(String(source.line.vector, radix: 16)) (\(source.key))"
        if inactive {
            source.inactive = true
            if source.containedSince == nil { suspend(source) }
            logger.debug("\(vector) reported inactive: not watched")
        } else {
            source.inactive = false
            if source.containedSince == nil, !resume(source) {
                logger.error("\(vector) reported active but cannot be watched again")
                return
            }
            logger.debug("\(vector) reported active\(source.containedSince == nil ? "" : "; it stays contained until re-armed")")
        }
    }
}
