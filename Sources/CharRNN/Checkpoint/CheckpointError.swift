// Every way a checkpoint can be wrong, each with a one-line description that
// names the problem (the tools prefix the file name). Modelled on
// safetensors' error list: a reader refuses before it allocates.

public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case empty
    case notACheckpoint(firstBytes: [UInt8])
    case unsupportedVersion(major: UInt16, minor: UInt16, headerIntact: Bool)
    case reservedNotZero(what: String, value: UInt64)
    case fileHeaderCorrupt
    case storedLengthMismatch(tag: String, stored: UInt64, raw: UInt64)
    case truncated(offset: Int, reading: String)
    case sectionHeaderCorrupt(offset: Int)
    case unknownCriticalSection(tag: String, offset: Int)
    case sectionOutOfOrder(tag: String, after: String)
    case missingSection(tag: String)
    case tooManySections
    case sectionTooLarge(tag: String, rawLength: UInt64, limit: Int)
    case sectionLengthMismatch(tag: String, expected: Int, actual: UInt64)
    case compressionRatioImpossible(tag: String, stored: UInt64, raw: UInt64)
    case decompressionFailed(tag: String, reason: String)
    case checksumMismatch(tag: String, expected: UInt32, actual: UInt32)
    case trailingBytes(count: Int)
    case invalid(tag: String, reason: String)
    /// Sections that must agree with each other do not (formats/checkpoint.md §3.1).
    case sectionsDisagree(String)

    public var description: String {
        switch self {
        case .empty:
            return "empty file, not a checkpoint"
        case .notACheckpoint(let first):
            let hex = first.prefix(8).map { hexByte($0) }.joined(separator: " ")
            let looksLikeText = !first.isEmpty && first.allSatisfy { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20...0x7E).contains($0) }
            return "not a charrnn checkpoint (starts with \(hex), expected 89 43 52 4E 4E 0D 0A 1A)"
                + (looksLikeText ? "; it looks like text: charrnn-vocab makes a checkpoint from text" : "")
        case .unsupportedVersion(let major, let minor, let headerIntact):
            return headerIntact
                ? "checkpoint format \(major).\(minor) is not supported (this charrnn reads 1.x); "
                    + "HINT: read it with the charrnn version that wrote it"
                : "the file header claims format \(major).\(minor), which this charrnn (1.x) does not read, "
                    + "and its checksum fails: a corrupt file or a newer format"
        case .reservedNotZero(let what, let value):
            return "reserved field \(what) is \(value), must be 0 (corrupt file or a newer format)"
        case .fileHeaderCorrupt:
            return "corrupt file header (header checksum mismatch)"
        case .storedLengthMismatch(let tag, let stored, let raw):
            return "section \(printable(tag)) is stored uncompressed in \(stored) bytes but claims \(raw) bytes of content"
        case .truncated(let offset, let reading):
            return "truncated: the file ends at byte \(offset) while reading \(reading)"
        case .sectionHeaderCorrupt(let offset):
            return "corrupt section header at byte \(offset) (header checksum mismatch)"
        case .unknownCriticalSection(let tag, let offset):
            return "unknown critical section '\(printable(tag))' at byte \(offset) (corrupt file or a newer format)"
        case .sectionOutOfOrder(let tag, let after):
            return "section \(printable(tag)) is out of place after \(printable(after))"
        case .missingSection(let tag):
            return tag == CheckpointFormat.Tag.end.rawValue
                ? "truncated: the END section is missing"
                : "required section \(printable(tag)) is missing"
        case .tooManySections:
            return "more than \(CheckpointFormat.Limits.maxSections) sections"
        case .sectionTooLarge(let tag, let raw, let limit):
            return "section \(printable(tag)) claims \(raw) bytes, more than its limit of \(limit)"
        case .sectionLengthMismatch(let tag, let expected, let actual):
            return "section \(printable(tag)) holds \(actual) bytes where \(expected) are expected"
        case .compressionRatioImpossible(let tag, let stored, let raw):
            return "section \(printable(tag)) claims \(raw) bytes from \(stored) compressed bytes, impossible for deflate"
        case .decompressionFailed(let tag, let reason):
            return "section \(printable(tag)) does not decompress: \(reason)"
        case .checksumMismatch(let tag, let expected, let actual):
            return "section \(printable(tag)) fails its CRC-32 check (recorded \(hex32(expected)), computed \(hex32(actual))): the file is corrupt"
        case .trailingBytes(let count):
            return "\(count) unexpected byte\(count == 1 ? "" : "s") after the END section"
        case .invalid(let tag, let reason):
            return "section \(printable(tag)): \(reason)"
        case .sectionsDisagree(let reason):
            return "the sections disagree: \(reason)"
        }
    }
}

private func hexByte(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16, uppercase: true)
    return digits.count == 1 ? "0" + digits : digits
}

private func hex32(_ value: UInt32) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
}

/// A tag for messages: printable ASCII as is, anything else as hex bytes.
private func printable(_ tag: String) -> String {
    tag.unicodeScalars.allSatisfy { (0x20...0x7E).contains($0.value) }
        ? tag.trimmingSuffixSpaces
        : tag.utf8.map { hexByte($0) }.joined(separator: " ")
}

extension String {
    fileprivate var trimmingSuffixSpaces: String {
        var result = self
        while result.hasSuffix(" ") { result.removeLast() }
        return result
    }
}
