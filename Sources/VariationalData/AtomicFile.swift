import Foundation

/// Writes `bytes` to `path` so that a reader (or a crash) sees either the old file or the whole new one: into a
/// temporary file beside it, flushed to disk, then renamed over the target.
public func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let directory = url.deletingLastPathComponent().path
    let temporary = (directory as NSString).appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard descriptor >= 0 else { throw DataError("\(path): cannot write (\(String(cString: strerror(errno))))") }
    var written = 0
    let failure: String? = bytes.withUnsafeBytes { buffer -> String? in
        while written < buffer.count {
            let n = write(descriptor, buffer.baseAddress! + written, buffer.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            written += n
        }
        return fsync(descriptor) == 0 ? nil : String(cString: strerror(errno))
    }
    close(descriptor)
    if let failure {
        unlink(temporary)
        throw DataError("\(path): write failed (\(failure))")
    }
    guard rename(temporary, path) == 0 else {
        let reason = String(cString: strerror(errno))
        unlink(temporary)
        throw DataError("\(path): cannot replace (\(reason))")
    }
    let directoryDescriptor = open(directory, O_RDONLY)
    if directoryDescriptor >= 0 {
        fsync(directoryDescriptor)
        close(directoryDescriptor)
    }
}
