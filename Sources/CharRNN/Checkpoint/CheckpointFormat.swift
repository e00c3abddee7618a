// Constants of checkpoint format v1. formats/checkpoint.md is the normative
// description; this file and the reader/writer beside it follow it.

public enum CheckpointFormat {
    /// "\x89CRNN\r\n\x1a": a high byte first (catches 7-bit transfers), the name,
    /// then CR LF and Ctrl-Z (catch newline conversion and `type` on DOS).
    public static let magic: [UInt8] = [0x89, 0x43, 0x52, 0x4E, 0x4E, 0x0D, 0x0A, 0x1A]
    /// The version a file is stamped with when it uses nothing added after it
    /// (Checkpoint.stampedVersion): writers stamp the oldest version whose
    /// rules the file follows, so that older readers read all they can.
    public static let version: (major: UInt16, minor: UInt16) = (1, 1)
    /// The newest version this charrnn reads and writes (it reads every 1.x):
    /// the newest minor that a declared setting or a built-in cell needs, and
    /// at least 1.2, whose rules for sections that agree it implements.
    public static var newestVersion: (major: UInt16, minor: UInt16) {
        var minor: UInt16 = 2
        for setting in TrainingSettings.known { minor = max(minor, setting.since) }
        for cell in CellRegistry.builtIn { minor = max(minor, cell.formatMinorVersion) }
        minor = max(minor, partialEpochMinorVersion, ValidationCurve.minorVersion)
        return (1, minor)
    }
    /// The minor version that added PART (partial epochs).
    public static let partialEpochMinorVersion: UInt16 = 4
    public static let fileHeaderSize = 16
    public static let sectionHeaderSize = SectionHeader.size

    /// Section flag bit 0: the payload is a zlib stream (RFC 1950); otherwise stored as is.
    public static let flagZlib: UInt32 = 1

    /// zlib level for every section: a middle ground between speed and size.
    public static let compressionLevel: Int32 = 6

    /// Section tags in the order they must appear. A tag whose first letter is
    /// upper case is critical (a reader that does not know it must refuse the
    /// file); lower case is ancillary (a reader may ignore it).
    public enum Tag: String, CaseIterable, Sendable {
        case alphabet = "ALPH"
        case model = "MODL"
        case tensors = "TENS"
        case optimizer = "OPTM"
        /// Training settings as a fixed record: format 1.0. Read, never written.
        case training = "TSET"
        /// Training settings as typed key/value entries: format 1.1 on.
        case trainingKeyValues = "TSKV"
        case history = "HIST"
        /// An epoch stopped between two sequences: format 1.4 on.
        case partial = "PART"
        /// Validation losses measured inside epochs (ancillary): format 1.6 on.
        case validationCurve = "vcur"
        case metadata = "meta"
        case end = "END "

        public var bytes: [UInt8] { Array(rawValue.utf8) }
    }

    public enum Limits {
        /// Sections in one file, END included.
        public static let maxSections = 64
        /// Records in HIST.
        public static let maxHistoryRecords = 1_000_000
        /// Raw size of the meta section.
        public static let maxMetadataBytes = 1 << 20
        /// Raw size of TSKV, its entries, and the bytes of one key.
        public static let maxSettingsBytes = 1 << 16
        public static let maxSettings = 256
        public static let maxSettingKeyLength = 64
        /// deflate cannot expand data by more than 1032:1; a larger claimed ratio is corrupt.
        public static let maxCompressionRatio = 1032
    }

    public static let historyRecordSize = 72
    public static let trainingSettingsSize = 24
    public static let optimizerHeaderSize = 32

    /// Raw size of the TENS section for a layout: the directory, padding to a
    /// multiple of 4 bytes, then 4 bytes per parameter.
    public static func tensorSectionSize(_ layout: ParameterLayout) -> Int {
        directorySize(layout).padded + 4 * layout.parameterCount
    }

    static func directorySize(_ layout: ParameterLayout) -> (unpadded: Int, padded: Int) {
        var size = 4
        for tensor in layout.tensors {
            size += 1 + tensor.name.utf8.count + 1 + 4 * tensor.shape.count
        }
        return (size, (size + 3) & ~3)
    }
}
