// Parses format 1.x bytes (1.0 and 1.1) into a Checkpoint, refusing anything
// malformed with a CheckpointError before allocating for it: every length is
// checked against the bytes actually present, the format's limits and the
// model's shapes. `parse()` reads the file header, then for each section its
// header, its place in the order and one decoder per tag, and at the end
// checks that the sections agree with each other (§3.1); the numbered steps
// are those of formats/checkpoint.md §6. The bytes come from memory or from a
// regular file read piece by piece (CheckpointSource.swift).

extension Checkpoint {
    public struct ReadOptions: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Do not decompress or check ADAM's moments (sampling never needs them).
        public static let skipOptimizer = ReadOptions(rawValue: 1)
    }

    /// Decodes a whole checkpoint file.
    ///
    /// `memoryBudget` bounds what a compressed section may inflate to: a small
    /// file may legally claim a multi-gigabyte TENS, and on a machine without
    /// the memory the allocation would kill the process instead of refusing
    /// the file. It defaults to the machine's physical memory.
    public init(
        decoding bytes: [UInt8], options: ReadOptions = [],
        memoryBudget: UInt64 = physicalMemoryBytes
    ) throws(CheckpointError) {
        do {
            self = try bytes.withUnsafeBytes { buffer in
                var parser = CheckpointParser(MemorySource(bytes: buffer), options: options, memoryBudget: memoryBudget)
                return try parser.parse()
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .invalid(tag: "?", reason: "\(error)")
        }
    }

    /// Reads a whole checkpoint from `input`: a regular file piece by piece
    /// (it is never held whole: see CheckpointSource.swift), anything else
    /// (a pipe) read a header at a time (`readCheckpointStream`), each checked
    /// before what it claims is read. Throws a CheckpointError for a file the
    /// format refuses, a FileError when reading fails.
    public init(
        reading input: InputFile, options: ReadOptions = [],
        memoryBudget: UInt64 = physicalMemoryBytes
    ) throws {
        guard let source = input.checkpointSource() else {
            self = try Checkpoint(
                decoding: try input.readCheckpointStream(memoryBudget: memoryBudget), options: options,
                memoryBudget: memoryBudget)
            return
        }
        var parser = CheckpointParser(source, options: options, memoryBudget: memoryBudget)
        do {
            self = try parser.parse()
        } catch let error as CheckpointError {
            throw error
        } catch let error as FileError {
            throw error
        } catch {
            throw CheckpointError.invalid(tag: "?", reason: "\(error)")
        }
    }
}

private struct CheckpointParser<Source: CheckpointSource> {
    typealias Tag = CheckpointFormat.Tag

    let file: Source
    let options: Checkpoint.ReadOptions
    /// Bytes a compressed section may inflate to (0: unknown, no bound).
    let memoryBudget: UInt64
    var offset = 0
    /// What the sections read so far hold.
    var found = Found()

    struct Found {
        var alphabet: Alphabet?
        var config: ModelConfig?
        var model: Model?
        var optimizer: AdamState?
        /// OPTM's step, also when its moments are skipped.
        var optimizerStep: UInt64?
        var training: TrainingSettings?
        var history: [EpochRecord] = []
        var partial: PartialEpoch?
        var validationPoints: [ValidationPoint] = []
        var ignoredValidationPoints: String?
        var metadata: [(key: String, value: String)] = []
        /// The last critical section, for the order check.
        var lastCritical: Tag?
    }

    /// A section header and where it starts in the file.
    struct Section {
        let header: SectionHeader
        let offset: Int

        var tagName: String { header.tagName }
        var rawLength: UInt64 { header.rawLength }
    }

    init(_ file: Source, options: Checkpoint.ReadOptions, memoryBudget: UInt64) {
        self.file = file
        self.options = options
        self.memoryBudget = memoryBudget
    }

    /// The file header, then each section: its header, its place, and its decoder.
    mutating func parse() throws -> Checkpoint {
        let version = try readFileHeader()
        offset = CheckpointFormat.fileHeaderSize
        var sections = 0
        while true {
            sections += 1
            guard sections <= CheckpointFormat.Limits.maxSections else { throw CheckpointError.tooManySections }
            let section = try readSectionHeader()
            guard let tag = try place(section) else {
                _ = try skipPayload(section)  // ancillary and unknown: ignored
                continue
            }
            do {
                switch tag {
                case .alphabet: try decodeAlphabet(section)
                case .model: try decodeModel(section)
                case .tensors: try decodeTensors(section)
                case .optimizer: try decodeOptimizer(section)
                case .training: try decodeTrainingRecord(section)
                case .trainingKeyValues: try decodeTrainingKeyValues(section)
                case .history: try decodeHistory(section)
                case .partial: try decodePartial(section)
                case .validationCurve: try decodeValidationCurve(section)
                case .metadata: try decodeMetadata(section)
                case .end: return try decodeEnd(section, version: version)
                }
            } catch is ByteReader.OutOfData {
                throw CheckpointError.invalid(tag: section.tagName, reason: "its contents run past the end of the section")
            }
        }
    }

    /// Step 1 of §6: the magic, the major version, then the header CRC.
    func readFileHeader() throws -> (major: UInt16, minor: UInt16) {
        guard file.count > 0 else { throw CheckpointError.empty }
        let start = try file.withBytes(at: 0, length: min(file.count, CheckpointFormat.fileHeaderSize)) { Array($0) }
        let magic = CheckpointFormat.magic
        // A stream cut inside the magic is a truncated checkpoint, not some other file.
        if start.count < magic.count, start == Array(magic.prefix(start.count)) {
            throw CheckpointError.truncated(offset: file.count, reading: "the file header")
        }
        guard start.count >= magic.count, Array(start[0..<magic.count]) == magic else {
            throw CheckpointError.notACheckpoint(firstBytes: Array(start.prefix(8)))
        }
        guard start.count >= CheckpointFormat.fileHeaderSize else {
            throw CheckpointError.truncated(offset: file.count, reading: "the file header")
        }
        let (major, minor, headerCRC) = try start.withUnsafeBytes { bytes in
            var header = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[magic.count..<CheckpointFormat.fileHeaderSize]))
            return (try header.u16(), try header.u16(), try header.u32())
        }
        let headerIntact = Zlib.crc32(Array(start[0..<12])) == headerCRC
        guard major == CheckpointFormat.version.major else {
            // A future major version may lay its header out differently, so a failed
            // checksum does not prove corruption; say both.
            throw CheckpointError.unsupportedVersion(major: major, minor: minor, headerIntact: headerIntact)
        }
        guard headerIntact else { throw CheckpointError.fileHeaderCorrupt }
        return (major, minor)
    }

    /// Step 2.6 of §6: the known tag of a section in its place, or nil for an
    /// ancillary section this reader does not know.
    mutating func place(_ section: Section) throws -> Tag? {
        guard let tag = Tag(rawValue: section.tagName), tag.bytes == section.header.tag else {
            if found.alphabet == nil, !section.header.isCritical {
                throw CheckpointError.sectionOutOfOrder(tag: section.tagName, after: "the file header")
            }
            if section.header.isCritical {
                throw CheckpointError.unknownCriticalSection(tag: section.tagName, offset: section.offset)
            }
            return nil
        }
        guard tag != .metadata, tag != .validationCurve else {
            if found.alphabet == nil { throw CheckpointError.sectionOutOfOrder(tag: tag.rawValue, after: "the file header") }
            return tag
        }
        // Critical sections come in the order of Tag.allCases, each at most once; ALPH first.
        let order = Tag.allCases
        let previous = found.lastCritical.flatMap { order.firstIndex(of: $0) } ?? -1
        guard order.firstIndex(of: tag)! > previous else {
            throw CheckpointError.sectionOutOfOrder(tag: tag.rawValue, after: found.lastCritical?.rawValue ?? "the file header")
        }
        if tag != .alphabet, found.alphabet == nil { throw CheckpointError.missingSection(tag: Tag.alphabet.rawValue) }
        found.lastCritical = tag
        return tag
    }

    // MARK: - One decoder per tag

    mutating func decodeAlphabet(_ section: Section) throws {
        found.alphabet = try parseAlphabet(try payload(section, limit: 8 + 4 * Alphabet.Limits.maxSize))
    }

    mutating func decodeModel(_ section: Section) throws {
        let payload = try payload(section, limit: 24 + 4 * ModelConfig.Limits.maxLayers)
        found.config = try parseModel(payload, alphabet: found.alphabet!)
    }

    mutating func decodeTensors(_ section: Section) throws {
        guard let config = found.config else { throw CheckpointError.missingSection(tag: Tag.model.rawValue) }
        let layout = ParameterLayout(config)
        let expected = CheckpointFormat.tensorSectionSize(layout)
        try requireLength(section, expected)
        // Enough for any directory this layout's count of entries can hold
        // (names of up to 255 bytes, ranks up to 2, padding), so the check
        // fails here exactly as it would on the whole section.
        let directoryBound = 4 + layout.tensors.count * (1 + 255 + 1 + 2 * 4) + 3
        let checker = self
        let payload = try payload(section, limit: expected, firstChecked: directoryBound) { start in
            try start.withUnsafeBytes { bytes in
                var reader = ByteReader(bytes)
                try checker.readTensorDirectory(&reader, layout: layout)
            }
        }
        found.model = try parseTensors(payload, config: config, layout: layout)
    }

    mutating func decodeOptimizer(_ section: Section) throws {
        guard let model = found.model else { throw CheckpointError.missingSection(tag: Tag.tensors.rawValue) }
        let count = model.layout.parameterCount
        let expected = CheckpointFormat.optimizerHeaderSize + 8 * count
        try requireLength(section, expected)
        guard !options.contains(.skipOptimizer) else {
            // The moments are not kept, but the section is checked as a full read checks
            // it: the step and ADAM's constants, and the raw bytes' length and CRC,
            // streamed through the inflater. Every tool refuses the same files (§7).
            let payloadOffset = offset
            let stored = try skipPayload(section)
            let start = try prefix(of: section, at: payloadOffset, length: CheckpointFormat.optimizerHeaderSize)
            found.optimizerStep = try start.withUnsafeBytes { bytes in
                var reader = ByteReader(bytes)
                return try readOptimizerHeader(&reader).step
            }
            try verifyRawBytes(section, at: payloadOffset, stored: stored)
            return
        }
        let checker = self
        let payload = try payload(section, limit: expected, firstChecked: CheckpointFormat.optimizerHeaderSize) { start in
            try start.withUnsafeBytes { bytes in
                var reader = ByteReader(bytes)
                _ = try checker.readOptimizerHeader(&reader)
            }
        }
        found.optimizer = try parseOptimizer(payload, count: count)
        found.optimizerStep = found.optimizer?.step
    }

    /// TSET, format 1.0's fixed record.
    mutating func decodeTrainingRecord(_ section: Section) throws {
        try requireLength(section, CheckpointFormat.trainingSettingsSize)
        found.training = try parseTrainingRecord(try payload(section, limit: CheckpointFormat.trainingSettingsSize))
    }

    /// TSKV, format 1.1's key/value entries.
    mutating func decodeTrainingKeyValues(_ section: Section) throws {
        // The order check lets TSKV follow TSET; a file holds one or the other.
        guard found.training == nil else {
            throw CheckpointError.invalid(tag: "TSKV", reason: "the file already holds training settings in TSET; a file has TSET or TSKV, not both")
        }
        found.training = try parseTrainingKeyValues(try payload(section, limit: CheckpointFormat.Limits.maxSettingsBytes))
    }

    /// HIST, streamed: its stored bytes pass through the CRC and the inflater
    /// piece by piece, and its records are decoded as they come out, so that
    /// neither the stored nor the raw section is ever held whole.
    mutating func decodeHistory(_ section: Section) throws {
        let header = section.header
        let limit = 4 + CheckpointFormat.historyRecordSize * CheckpointFormat.Limits.maxHistoryRecords
        guard header.rawLength <= UInt64(limit) else {
            throw CheckpointError.sectionTooLarge(tag: header.tagName, rawLength: header.rawLength, limit: limit)
        }
        let payloadOffset = offset
        let stored = try skipPayload(section)  // the stored CRC, before zlib sees anything
        let rawLength = Int(header.rawLength)
        if header.isCompressed {
            if rawLength > 4 {
                let start = try prefix(of: section, at: payloadOffset, length: 4)
                if start.count == 4 { try checkHistoryCount(start, rawLength: header.rawLength) }
            }
            // The records and the raw bytes they come from are about the same size.
            if memoryBudget > 0, header.rawLength > memoryBudget / 2 {
                throw CheckpointError.invalid(
                    tag: header.tagName,
                    reason:
                        "it inflates to \(formatBytes(header.rawLength)), more than this machine's \(formatBytes(memoryBudget)) of memory can load")
            }
        } else if header.rawCRC != header.storedCRC {
            throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.rawCRC, actual: header.storedCRC)
        }
        let checker = self
        var decoder = HistoryDecoder(rawLength: header.rawLength, checkCount: { try checker.checkHistoryCount($0, rawLength: header.rawLength) })
        if header.isCompressed {
            let inflater: Zlib.Inflater
            do {
                inflater = try Zlib.Inflater(expected: rawLength)
                var done = 0
                try file.forEachPiece(at: payloadOffset, length: stored) { piece in
                    done += piece.count
                    try inflater.feed(piece, remainingAfter: stored - done) { try decoder.take($0) }
                }
                if stored == 0 { try inflater.feed(UnsafeRawBufferPointer(start: nil, count: 0), remainingAfter: 0) { _ in } }
            } catch let error as Zlib.InflateError {
                throw Self.decompressionError(error, tag: header.tagName)
            }
            guard decoder.crc == header.rawCRC else {
                throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.rawCRC, actual: decoder.crc)
            }
        } else {
            try file.forEachPiece(at: payloadOffset, length: stored) { try decoder.take($0) }
        }
        found.history = try decoder.finish()
    }

    /// Turns HIST's raw bytes, given in pieces, into records.
    struct HistoryDecoder {
        let rawLength: UInt64
        let checkCount: ([UInt8]) throws -> Void
        var crc: UInt32 = 0
        var records: [EpochRecord] = []
        /// The count's 4 bytes, then a record's 72, until they are whole.
        var pending: [UInt8] = []
        var count: Int?

        init(rawLength: UInt64, checkCount: @escaping ([UInt8]) throws -> Void) {
            self.rawLength = rawLength
            self.checkCount = checkCount
        }

        mutating func take(_ bytes: UnsafeRawBufferPointer) throws {
            crc = Zlib.crc32(bytes, initial: crc)
            var offset = 0
            if count == nil {
                let needed = min(4 - pending.count, bytes.count)
                pending += bytes[0..<needed]
                offset = needed
                guard pending.count == 4 else { return }
                try checkCount(pending)
                let value = Int(pending.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
                count = value
                records.reserveCapacity(value)
                pending.removeAll(keepingCapacity: true)
            }
            let size = CheckpointFormat.historyRecordSize
            if !pending.isEmpty {
                let needed = min(size - pending.count, bytes.count - offset)
                pending += bytes[offset..<offset + needed]
                offset += needed
                guard pending.count == size else { return }
                try pending.withUnsafeBytes { records.append(try Self.record($0)) }
                pending.removeAll(keepingCapacity: true)
            }
            while bytes.count - offset >= size {
                records.append(try Self.record(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + size])))
                offset += size
            }
            pending += bytes[offset...]
        }

        func finish() throws -> [EpochRecord] {
            guard count != nil else { throw CheckpointError.invalid(tag: "HIST", reason: "too short to hold the record count") }
            return records
        }

        static func record(_ bytes: UnsafeRawBufferPointer) throws -> EpochRecord {
            var reader = ByteReader(bytes)
            let epoch = Int(try reader.u32())
            let flags = EpochRecord.Flags(rawValue: try reader.u32())
            return EpochRecord(
                epoch: epoch, flags: flags, learningRate: try reader.f64(), trainLoss: try reader.f64(),
                validationLoss: try reader.f64(), charsPerSecond: try reader.f64(), seconds: try reader.f64(),
                textHash: try reader.u64(), textLength: try reader.u64(), optimizerStep: try reader.u64())
        }
    }

    /// Checks a section's raw bytes (their length and CRC) without keeping them:
    /// a compressed payload is inflated piece by piece through the CRC.
    func verifyRawBytes(_ section: Section, at payloadOffset: Int, stored: Int) throws {
        let header = section.header
        guard header.isCompressed else {
            guard header.rawCRC == header.storedCRC else {
                throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.rawCRC, actual: header.storedCRC)
            }
            return
        }
        var crc: UInt32 = 0
        do {
            let inflater = try Zlib.Inflater(expected: Int(header.rawLength))
            var done = 0
            try file.forEachPiece(at: payloadOffset, length: stored) { piece in
                done += piece.count
                try inflater.feed(piece, remainingAfter: stored - done) { crc = Zlib.crc32($0, initial: crc) }
            }
            if stored == 0 { try inflater.feed(UnsafeRawBufferPointer(start: nil, count: 0), remainingAfter: 0) { _ in } }
        } catch let error as Zlib.InflateError {
            throw Self.decompressionError(error, tag: header.tagName)
        }
        guard crc == header.rawCRC else { throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.rawCRC, actual: crc) }
    }

    /// The first `length` raw bytes of a section whose payload starts at
    /// `payloadOffset` (fewer when a compressed stream is too short or corrupt
    /// to give them: the full read reports why).
    func prefix(of section: Section, at payloadOffset: Int, length: Int) throws -> [UInt8] {
        let stored = Int(section.header.storedLength)
        guard section.header.isCompressed else {
            return try file.withBytes(at: payloadOffset, length: min(stored, length)) { Array($0) }
        }
        var start: [UInt8] = []
        do {
            // Piece by piece, and only as far as it takes: the stream may be gigabytes.
            let inflater = try Zlib.Inflater(expected: Int(section.header.rawLength))
            var done = 0
            try file.forEachPiece(at: payloadOffset, length: stored) { piece in
                done += piece.count
                try inflater.feed(piece, remainingAfter: stored - done) { out in
                    start += out.prefix(length - start.count)
                    if start.count == length { throw PrefixComplete() }
                }
            }
        } catch is PrefixComplete {
        } catch let error as Zlib.InflateError {
            throw Self.decompressionError(error, tag: section.tagName)
        }
        return start
    }

    static func decompressionError(_ error: Zlib.InflateError, tag: String) -> CheckpointError {
        switch error {
        case .corrupt(let reason):
            return .decompressionFailed(tag: tag, reason: reason)
        case .lengthMismatch(let expected, let actual):
            return .decompressionFailed(
                tag: tag, reason: "it decompresses to \(actual > expected ? "more than \(expected)" : "\(actual)") bytes, \(expected) recorded")
        }
    }

    /// PART (format 1.4): the layers' state shapes are checked against the model before the floats are read.
    mutating func decodePartial(_ section: Section) throws {
        guard let config = found.model?.config else { throw CheckpointError.missingSection(tag: Tag.tensors.rawValue) }
        // The largest PART this model allows: the most batch rows a run can have, of every state vector.
        let perRow = config.hiddenSizes.reduce(0) { $0 + 4 * config.cell.stateCount * $1 }
        let limit = PartialEpoch.headerSize + 8 * config.hiddenSizes.count + TrainingSettings.Limits.maxBatchRows * perRow
        if memoryBudget > 0, section.rawLength > memoryBudget / 2 {
            throw CheckpointError.invalid(
                tag: section.tagName,
                reason: "it inflates to \(formatBytes(section.rawLength)), more than this machine's \(formatBytes(memoryBudget)) of memory can load")
        }
        found.partial = try PartialEpoch.parse(try payload(section, limit: limit), config: config)
    }

    /// vcur (format 1.6, ancillary): points that break its rules are ignored, with the reason kept.
    /// Whether they fit the history and PART is checked at END, which may come after those.
    mutating func decodeValidationCurve(_ section: Section) throws {
        let limit = 4 + ValidationCurve.pointSize * ValidationCurve.maxPoints
        guard section.rawLength <= UInt64(limit) else {
            _ = try skipPayload(section)
            found.validationPoints = []
            found.ignoredValidationPoints = "it inflates to \(section.rawLength) bytes, more than the \(limit) of \(ValidationCurve.maxPoints) points"
            return
        }
        switch ValidationCurve.parse(try payload(section, limit: limit)) {
        case .success(let points):
            found.validationPoints = points
            found.ignoredValidationPoints = nil
        case .failure(let problem):
            found.validationPoints = []
            found.ignoredValidationPoints = problem.description
        }
    }

    mutating func decodeMetadata(_ section: Section) throws {
        found.metadata = try parseMetadata(try payload(section, limit: CheckpointFormat.Limits.maxMetadataBytes))
    }

    /// END, then the checks that need the whole file.
    func decodeEnd(_ section: Section, version: (major: UInt16, minor: UInt16)) throws -> Checkpoint {
        try requireLength(section, 0)
        let header = section.header
        guard header.storedLength == 0, header.flags == 0, header.storedCRC == 0, header.rawCRC == 0 else {
            throw CheckpointError.invalid(tag: "END", reason: "the END section must be empty")
        }
        guard offset == file.count else { throw CheckpointError.trailingBytes(count: file.count - offset) }
        guard let alphabet = found.alphabet else { throw CheckpointError.missingSection(tag: Tag.alphabet.rawValue) }
        if found.config != nil, found.model == nil { throw CheckpointError.missingSection(tag: Tag.tensors.rawValue) }
        if let disagreement = CheckpointAgreement.problem(
            hasModel: found.model != nil, optimizerStep: found.optimizerStep,
            hasSettings: found.training != nil, history: found.history,
            partial: found.partial, batchRows: found.training?.batchRows)
        {
            throw disagreement
        }
        var checkpoint = Checkpoint(
            alphabet: alphabet, model: found.model, optimizer: found.optimizer, training: found.training,
            history: found.history, partial: found.partial, metadata: found.metadata, formatVersion: version)
        checkpoint.ignoredValidationPoints = found.ignoredValidationPoints
        if let problem = ValidationCurve.disagreement(found.validationPoints, history: found.history, partial: found.partial) {
            checkpoint.ignoredValidationPoints = problem.description
        } else {
            checkpoint.validationPoints = found.validationPoints
        }
        return checkpoint
    }

    // MARK: - Sections

    /// Steps 2.2 to 2.5 of §6: the header is there and intact, and its
    /// lengths fit the file and what deflate can do.
    mutating func readSectionHeader() throws -> Section {
        let start = offset
        guard file.count - offset >= SectionHeader.size else {
            if offset == file.count { throw CheckpointError.missingSection(tag: Tag.end.rawValue) }
            throw CheckpointError.truncated(offset: file.count, reading: "a section header at byte \(start)")
        }
        let header = try file.withBytes(at: offset, length: SectionHeader.size) { bytes throws(CheckpointError) in
            try SectionHeader(decoding: bytes, at: start)
        }
        offset += SectionHeader.size
        let stored = header.storedLength, raw = header.rawLength
        guard stored <= UInt64(file.count - offset) else {
            throw CheckpointError.truncated(offset: file.count, reading: "section \(header.tagName) (\(stored) bytes from byte \(offset))")
        }
        if !header.isCompressed {
            guard raw == stored else {
                throw CheckpointError.storedLengthMismatch(tag: header.tagName, stored: stored, raw: raw)
            }
        } else if raw > stored * UInt64(CheckpointFormat.Limits.maxCompressionRatio) + 1024 {
            throw CheckpointError.compressionRatioImpossible(tag: header.tagName, stored: stored, raw: raw)
        }
        return Section(header: header, offset: start)
    }

    func requireLength(_ section: Section, _ expected: Int) throws {
        guard section.rawLength == UInt64(expected) else {
            throw CheckpointError.sectionLengthMismatch(tag: section.tagName, expected: expected, actual: section.rawLength)
        }
    }

    /// Moves past a section without decompressing it, still checking its stored bytes.
    mutating func skipPayload(_ section: Section) throws -> Int {
        let header = section.header
        var crc: UInt32 = 0
        try file.forEachPiece(at: offset, length: Int(header.storedLength)) { crc = Zlib.crc32($0, initial: crc) }
        guard crc == header.storedCRC else {
            throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.storedCRC, actual: crc)
        }
        offset += Int(header.storedLength)
        return Int(header.storedLength)
    }

    /// The section's raw bytes, decompressed and CRC-checked.
    ///
    /// A compressed section's first `firstChecked` bytes are inflated on their
    /// own and given to `checkFirst` before anything is allocated for the whole
    /// section, so a decompression bomb of a legal size (a TENS of 8 GiB of
    /// zeros, say) is refused by its directory after a few bytes.
    mutating func payload(
        _ section: Section, limit: Int, firstChecked: Int = 0,
        checkFirst: ([UInt8]) throws -> Void = { _ in }
    ) throws -> [UInt8] {
        let header = section.header
        guard header.rawLength <= UInt64(limit) else {
            throw CheckpointError.sectionTooLarge(tag: header.tagName, rawLength: header.rawLength, limit: limit)
        }
        let payloadOffset = offset
        offset += Int(header.storedLength)
        return try file.withBytes(at: payloadOffset, length: Int(header.storedLength)) { stored in
            try payload(header, stored: stored, firstChecked: firstChecked, checkFirst: checkFirst)
        }
    }

    /// The raw bytes of a section whose payload is `stored`.
    func payload(
        _ header: SectionHeader, stored: UnsafeRawBufferPointer, firstChecked: Int,
        checkFirst: ([UInt8]) throws -> Void
    ) throws -> [UInt8] {
        // The stored bytes are checked before zlib ever sees them.
        let storedCRC = Zlib.crc32(stored)
        guard storedCRC == header.storedCRC else {
            throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.storedCRC, actual: storedCRC)
        }
        var raw: [UInt8]
        if header.isCompressed {
            if firstChecked > 0, header.rawLength > UInt64(firstChecked) {
                var start = [UInt8](repeating: 0, count: firstChecked)
                let produced = start.withUnsafeMutableBytes { Zlib.decompressPrefix(stored, into: $0) }
                // A stream too short or corrupt to fill the start fails below, with zlib's reason.
                if produced == firstChecked { try checkFirst(start) }
            }
            // The raw bytes and the values decoded from them coexist for a moment.
            if memoryBudget > 0, header.rawLength > memoryBudget / 2 {
                throw CheckpointError.invalid(
                    tag: header.tagName,
                    reason:
                        "it inflates to \(formatBytes(header.rawLength)), more than this machine's \(formatBytes(memoryBudget)) of memory can load")
            }
            raw = [UInt8](repeating: 0, count: Int(header.rawLength))
            do {
                try raw.withUnsafeMutableBytes { try Zlib.decompress(stored, into: $0) }
            } catch let error as Zlib.InflateError {
                throw Self.decompressionError(error, tag: header.tagName)
            }
        } else {
            raw = Array(stored)
        }
        let crc = Zlib.crc32(raw)
        guard crc == header.rawCRC else {
            throw CheckpointError.checksumMismatch(tag: header.tagName, expected: header.rawCRC, actual: crc)
        }
        return raw
    }

    // MARK: - Section contents

    func parseAlphabet(_ payload: [UInt8]) throws -> Alphabet {
        try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let count = Int(try field(&reader, "ALPH", "the symbol count") { try $0.u32() })
            let stop = Int(try field(&reader, "ALPH", "the stop index") { try $0.u32() })
            guard (Alphabet.Limits.minSize...Alphabet.Limits.maxSize).contains(count) else {
                throw CheckpointError.invalid(tag: "ALPH", reason: AlphabetError.badSize(count).description)
            }
            guard payload.count == 8 + 4 * count else {
                throw CheckpointError.sectionLengthMismatch(tag: "ALPH", expected: 8 + 4 * count, actual: UInt64(payload.count))
            }
            var symbols = [UInt32]()
            symbols.reserveCapacity(count)
            for _ in 0..<count { symbols.append(try reader.u32()) }
            do {
                return try Alphabet(symbols: symbols, stopIndex: stop)
            } catch {
                throw CheckpointError.invalid(tag: "ALPH", reason: "\(error)")
            }
        }
    }

    func parseModel(_ payload: [UInt8], alphabet: Alphabet) throws -> ModelConfig {
        try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let cellCode = try field(&reader, "MODL", "the cell kind") { try $0.u32() }
            let initCode = try field(&reader, "MODL", "the initialiser") { try $0.u32() }
            let seed = try field(&reader, "MODL", "the seed") { try $0.u64() }
            let alphabetSize = Int(try field(&reader, "MODL", "the alphabet size") { try $0.u32() })
            let layers = Int(try field(&reader, "MODL", "the layer count") { try $0.u32() })
            guard let cell = CellKind(rawValue: cellCode) else {
                let known = CellKind.allCases.map { "\($0.rawValue) \($0)" }.joined(separator: ", ")
                throw CheckpointError.invalid(tag: "MODL", reason: "unknown cell kind code \(cellCode) (known: \(known))")
            }
            guard let initialiser = Initialiser(rawValue: initCode) else {
                throw CheckpointError.invalid(tag: "MODL", reason: "unknown initialiser code \(initCode) (known: 1 flux-glorot-uniform)")
            }
            guard alphabetSize == alphabet.count else {
                throw CheckpointError.invalid(tag: "MODL", reason: "the model is for \(alphabetSize) symbols but the alphabet has \(alphabet.count)")
            }
            guard (1...ModelConfig.Limits.maxLayers).contains(layers) else {
                throw CheckpointError.invalid(tag: "MODL", reason: "\(layers) layers is outside 1...\(ModelConfig.Limits.maxLayers)")
            }
            guard payload.count == 24 + 4 * layers else {
                throw CheckpointError.sectionLengthMismatch(tag: "MODL", expected: 24 + 4 * layers, actual: UInt64(payload.count))
            }
            var sizes: [Int] = []
            for _ in 0..<layers { sizes.append(Int(try reader.u32())) }
            let config = ModelConfig(
                cell: cell, hiddenSizes: sizes, alphabetSize: alphabetSize,
                initialiser: initialiser, seed: seed)
            do {
                try config.validate()
            } catch {
                throw CheckpointError.invalid(tag: "MODL", reason: "\(error)")
            }
            return config
        }
    }

    func parseTensors(_ payload: [UInt8], config: ModelConfig, layout: ParameterLayout) throws -> Model {
        try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            try readTensorDirectory(&reader, layout: layout)
            var parameters = [Float](repeating: 0, count: layout.parameterCount)
            try parameters.withUnsafeMutableBufferPointer { try reader.floats(into: $0) }
            guard reader.isAtEnd else {
                throw CheckpointError.sectionLengthMismatch(tag: "TENS", expected: reader.offset, actual: UInt64(payload.count))
            }
            return Model(config: config, parameters: parameters)
        }
    }

    /// TENS up to its values: the count, the directory, which must list exactly
    /// the tensors of `layout`, and the zero padding.
    func readTensorDirectory(_ reader: inout ByteReader, layout: ParameterLayout) throws {
        let count = Int(try reader.u32())
        guard count == layout.tensors.count else {
            throw CheckpointError.invalid(tag: "TENS", reason: "\(count) tensors where the model has \(layout.tensors.count)")
        }
        for tensor in layout.tensors {
            let nameLength = Int(try reader.u8())
            let name = String(decoding: try reader.raw(nameLength), as: UTF8.self)
            let rank = Int(try reader.u8())
            guard rank == 1 || rank == 2 else {
                throw CheckpointError.invalid(tag: "TENS", reason: "tensor \(name) has rank \(rank); ranks are 1 or 2")
            }
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try reader.u32())) }
            guard name == tensor.name, shape == tensor.shape else {
                throw CheckpointError.invalid(
                    tag: "TENS",
                    reason: "tensor \(name) \(shape) where the model needs \(tensor.name) \(tensor.shape)")
            }
        }
        while reader.offset % 4 != 0 {
            let padding = try reader.u8()
            guard padding == 0 else { throw CheckpointError.reservedNotZero(what: "TENS padding", value: UInt64(padding)) }
        }
    }

    func parseOptimizer(_ payload: [UInt8], count: Int) throws -> AdamState {
        try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let (step, beta1, beta2, epsilon) = try readOptimizerHeader(&reader)
            var m = [Float](repeating: 0, count: count)
            var v = [Float](repeating: 0, count: count)
            try m.withUnsafeMutableBufferPointer { try reader.floats(into: $0) }
            try v.withUnsafeMutableBufferPointer { try reader.floats(into: $0) }
            return AdamState(step: step, beta1: beta1, beta2: beta2, epsilon: epsilon, m: m, v: v)
        }
    }

    /// OPTM's first 32 bytes: the step and ADAM's constants, checked.
    func readOptimizerHeader(_ reader: inout ByteReader) throws -> (step: UInt64, beta1: Double, beta2: Double, epsilon: Double) {
        let step = try reader.u64()
        let beta1 = try reader.f64(), beta2 = try reader.f64(), epsilon = try reader.f64()
        for (name, value) in [("beta1", beta1), ("beta2", beta2)] where !(value >= 0 && value < 1) {
            throw CheckpointError.invalid(tag: "OPTM", reason: "\(name) = \(value) is outside [0, 1)")
        }
        guard epsilon > 0, epsilon.isFinite else {
            throw CheckpointError.invalid(tag: "OPTM", reason: "epsilon = \(epsilon) must be a positive number")
        }
        return (step, beta1, beta2, epsilon)
    }

    /// TSET: u32 sequence_length, u32 batch_rows, f64 validation_fraction,
    /// f64 clip_norm. Checked as the same keys in TSKV would be.
    func parseTrainingRecord(_ payload: [UInt8]) throws -> TrainingSettings {
        try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let entries = [
                TrainingSettings.Entry(key: "sequence_length", value: .u64(UInt64(try reader.u32()))),
                TrainingSettings.Entry(key: "batch_rows", value: .u64(UInt64(try reader.u32()))),
                TrainingSettings.Entry(key: "validation_fraction", value: .f64(try reader.f64())),
                TrainingSettings.Entry(key: "clip_norm", value: .f64(try reader.f64())),
            ]
            return try TrainingSettings(entries: entries, section: "TSET")
        }
    }

    /// TSKV: u32 K, then K entries in strictly increasing byte order of their
    /// keys, each u8 n, the key's n bytes, u8 type code, then the value: u64,
    /// f64, or u32 m and m bytes of UTF-8 text. Nothing may follow.
    func parseTrainingKeyValues(_ payload: [UInt8]) throws -> TrainingSettings {
        func refuse(_ reason: String) -> CheckpointError { .invalid(tag: "TSKV", reason: reason) }
        return try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let count = Int(try field(&reader, "TSKV", "the entry count") { try $0.u32() })
            guard count <= CheckpointFormat.Limits.maxSettings else {
                throw refuse("\(count) entries is more than the \(CheckpointFormat.Limits.maxSettings) allowed")
            }
            var entries: [TrainingSettings.Entry] = []
            var previous: [UInt8] = []
            for index in 0..<count {
                let key = Array(try field(&reader, "TSKV", "the key of entry \(index)") { try $0.raw(Int(try $0.u8())) })
                guard TrainingSettings.isValidKey(key) else {
                    throw refuse(
                        "entry \(index) has the key \(shown(key)); a key is 1 to \(CheckpointFormat.Limits.maxSettingKeyLength) "
                            + "bytes of a-z, 0-9 and _, starting with a letter")
                }
                let name = String(decoding: key, as: UTF8.self)
                guard index == 0 || previous.lexicographicallyPrecedes(key) else {
                    throw refuse(
                        previous == key
                            ? "key '\(name)' appears twice"
                            : "key '\(name)' comes after '\(String(decoding: previous, as: UTF8.self))'; keys are in byte order")
                }
                previous = key
                let code = try field(&reader, "TSKV", "the type of '\(name)'") { try $0.u8() }
                guard let type = TrainingSettings.ValueType(rawValue: code) else {
                    let known = TrainingSettings.ValueType.allCases.map { "\($0.rawValue) \($0)" }.joined(separator: ", ")
                    throw refuse("key '\(name)' has the unknown type code \(code) (known: \(known))")
                }
                let value: TrainingSettings.Value
                switch type {
                case .u64: value = .u64(try field(&reader, "TSKV", "the value of '\(name)'") { try $0.u64() })
                case .f64: value = .f64(try field(&reader, "TSKV", "the value of '\(name)'") { try $0.f64() })
                case .text:
                    let utf8 = Array(try field(&reader, "TSKV", "the value of '\(name)'") { try $0.raw(Int(try $0.u32())) })
                    let text = String(decoding: utf8, as: UTF8.self)
                    guard Array(text.utf8) == utf8 else { throw refuse("the text of '\(name)' is not valid UTF-8") }
                    value = .text(text)
                }
                entries.append(TrainingSettings.Entry(key: name, value: value))
            }
            guard reader.isAtEnd else {
                throw CheckpointError.sectionLengthMismatch(tag: "TSKV", expected: reader.offset, actual: UInt64(payload.count))
            }
            return try TrainingSettings(entries: entries, section: "TSKV")
        }
    }

    /// A key for a message: 'key' when it is printable ASCII, its bytes in hex otherwise.
    func shown(_ key: [UInt8]) -> String {
        key.allSatisfy { (0x20...0x7E).contains($0) }
            ? "'\(String(decoding: key, as: UTF8.self))'"
            : "of bytes "
                + key.map { $0 < 16 ? "0" + String($0, radix: 16, uppercase: true) : String($0, radix: 16, uppercase: true) }
                .joined(separator: " ")
    }

    /// HIST's record count, which must be at most the limit and fit `rawLength`.
    func checkHistoryCount(_ start: [UInt8], rawLength: UInt64) throws {
        try start.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let count = Int(try field(&reader, "HIST", "the record count") { try $0.u32() })
            let expected = 4 + CheckpointFormat.historyRecordSize * count
            guard count <= CheckpointFormat.Limits.maxHistoryRecords, rawLength == UInt64(expected) else {
                throw CheckpointError.sectionLengthMismatch(tag: "HIST", expected: expected, actual: rawLength)
            }
        }
    }

    func parseMetadata(_ payload: [UInt8]) throws -> [(key: String, value: String)] {
        // Ancillary: a malformed line is skipped, never fatal.
        var pairs: [(key: String, value: String)] = []
        for line in payload.split(separator: 0x0A) {
            guard let equals = line.firstIndex(of: 0x3D) else { continue }
            pairs.append(
                (
                    key: String(decoding: line[..<equals], as: UTF8.self),
                    value: String(decoding: line[(equals + 1)...], as: UTF8.self)
                ))
        }
        return pairs
    }

    func field<T>(
        _ reader: inout ByteReader, _ tag: String, _ what: String,
        _ read: (inout ByteReader) throws -> T
    ) throws -> T {
        do {
            return try read(&reader)
        } catch {
            throw CheckpointError.invalid(tag: tag, reason: "too short to hold \(what)")
        }
    }
}

/// Stops inflating once the bytes a prefix needs have come out.
private struct PrefixComplete: Error {}
