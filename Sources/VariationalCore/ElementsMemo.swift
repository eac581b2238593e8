import Synchronization

/// Elements computed from a tensor's elements alone — the log-factorials of a row of counts — remembered for the
/// few element buffers seen last, so that data met at every step of a fit is processed once rather than every step.
///
/// An entry holds its source buffer, and a tensor writes into a buffer only after finding it uniquely held (copying
/// it otherwise), so the elements behind a remembered buffer cannot change while it is remembered: the identity of
/// the buffer is a sound key. Beyond `capacity` entries the least recently used is forgotten, and with it the
/// buffers it held.
public final class ElementsMemo: Sendable {
    private struct Entry {
        let source: AnyObject
        let result: AnyObject?
    }

    private let entries: Mutex<[Entry]>
    private let capacity: Int

    /// A memo of at most `capacity` entries.
    public init(capacity: Int = 4) {
        self.capacity = max(capacity, 1)
        entries = Mutex([])
    }

    /// `derive(source)`, computed once for each buffer of elements while it stays among the remembered ones.
    /// `derive` must depend on the elements alone (not on a shape or any other state).
    /// (Specialised for export: a fit looks up its data's entry at every step, and unspecialised, with the entry moved
    /// to the front through the array's generic removal and insertion, that took about 1,000 instructions.)
    @_specialize(exported: true, where Scalar == Float)
    @_specialize(exported: true, where Scalar == Double)
    public func elements<Scalar: TensorScalar>(
        derivedFrom source: TensorElements<Scalar>, _ derive: (TensorElements<Scalar>) -> TensorElements<Scalar>
    ) -> TensorElements<Scalar> {
        guard let key = source.buffer else { return derive(source) }
        let (found, remembered): (Bool, AnyObject?) = entries.withLock { entries in
            for i in entries.indices where entries[i].source === key {
                let entry = entries[i]
                if i > 0 {  // to the front, the others a place back
                    for j in stride(from: i, to: 0, by: -1) { entries[j] = entries[j - 1] }
                    entries[0] = entry
                }
                return (true, entry.result)
            }
            return (false, nil)
        }
        if found {
            var result = TensorElements<Scalar>()
            // The entry was made from a buffer of the same element type, so its result has that type too.
            result.buffer = remembered.map { unsafeDowncast($0, to: TensorBuffer<Scalar>.self) }
            return result
        }
        let result = derive(source)
        entries.withLock { entries in
            entries.insert(Entry(source: key, result: result.buffer), at: 0)
            if entries.count > capacity { entries.removeLast() }
        }
        return result
    }

    /// How many buffers are remembered (for tests).
    public var count: Int { entries.withLock { $0.count } }
}
