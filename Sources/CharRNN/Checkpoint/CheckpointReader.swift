// Parses format v1 bytes into a Checkpoint, refusing anything malformed with a
// CheckpointError before allocating for it: every length is checked against
// the bytes actually present, the format's limits and the model's shapes.

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
    public init(decoding bytes: [UInt8], options: ReadOptions = [],
                memoryBudget: UInt64 = physicalMemoryBytes) throws(CheckpointError) {
        do {
            self = try bytes.withUnsafeBytes { buffer in
                var parser = CheckpointParser(buffer, options: options, memoryBudget: memoryBudget)
                return try parser.parse()
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .invalid(tag: "?", reason: "\(error)")
        }
    }
}

private struct CheckpointParser {
    typealias Tag = CheckpointFormat.Tag

    let file: UnsafeRawBufferPointer
    let options: Checkpoint.ReadOptions
    /// Bytes a compressed section may inflate to (0: unknown, no bound).
    let memoryBudget: UInt64
    var offset = 0

    init(_ file: UnsafeRawBufferPointer, options: Checkpoint.ReadOptions, memoryBudget: UInt64) {
        self.file = file
        self.options = options
        self.memoryBudget = memoryBudget
    }

    /// A section header as read from the file.
    struct SectionHeader {
        let tagBytes: [UInt8]
        let flags: UInt32
        let storedLength: UInt64
        let rawLength: UInt64
        let storedCRC: UInt32
        let rawCRC: UInt32
        let offset: Int

        var tagName: String { String(decoding: tagBytes, as: UTF8.self) }
        var isCritical: Bool { (0x41...0x5A).contains(tagBytes[0]) }
    }

    mutating func parse() throws -> Checkpoint {
        guard !file.isEmpty else { throw CheckpointError.empty }
        let magic = CheckpointFormat.magic
        // A stream cut inside the magic is a truncated checkpoint, not some other file.
        if file.count < magic.count, Array(file) == Array(magic.prefix(file.count)) {
            throw CheckpointError.truncated(offset: file.count, reading: "the file header")
        }
        guard file.count >= magic.count, Array(file[0..<magic.count]) == magic else {
            throw CheckpointError.notACheckpoint(firstBytes: Array(file.prefix(8)))
        }
        guard file.count >= CheckpointFormat.fileHeaderSize else {
            throw CheckpointError.truncated(offset: file.count, reading: "the file header")
        }
        var header = ByteReader(UnsafeRawBufferPointer(rebasing: file[magic.count..<CheckpointFormat.fileHeaderSize]))
        let major = try header.u16(), minor = try header.u16(), headerCRC = try header.u32()
        let headerIntact = Zlib.crc32(UnsafeRawBufferPointer(rebasing: file[0..<12])) == headerCRC
        guard major == CheckpointFormat.version.major else {
            // A future major version may lay its header out differently, so a failed
            // checksum does not prove corruption; say both.
            throw CheckpointError.unsupportedVersion(major: major, minor: minor, headerIntact: headerIntact)
        }
        guard headerIntact else { throw CheckpointError.fileHeaderCorrupt }
        offset = CheckpointFormat.fileHeaderSize

        var alphabet: Alphabet?
        var config: ModelConfig?
        var model: Model?
        var optimizer: AdamState?
        var training: TrainingSettings?
        var history: [EpochRecord] = []
        var metadata: [(key: String, value: String)] = []
        var lastCritical: Tag?
        var sections = 0

        while true {
            sections += 1
            guard sections <= CheckpointFormat.Limits.maxSections else { throw CheckpointError.tooManySections }
            let section = try readSectionHeader()
            guard let tag = Tag(rawValue: section.tagName), tag.bytes == section.tagBytes else {
                if alphabet == nil, !section.isCritical {
                    throw CheckpointError.sectionOutOfOrder(tag: section.tagName, after: "the file header")
                }
                if section.isCritical {
                    throw CheckpointError.unknownCriticalSection(tag: section.tagName, offset: section.offset)
                }
                _ = try skipPayload(section)  // ancillary and unknown: ignored
                continue
            }
            // Critical sections come in the order of Tag.allCases, each at most once; ALPH first.
            if tag != .metadata {
                let order = Tag.allCases
                let previous = lastCritical.flatMap { order.firstIndex(of: $0) } ?? -1
                guard order.firstIndex(of: tag)! > previous else {
                    throw CheckpointError.sectionOutOfOrder(tag: tag.rawValue, after: lastCritical?.rawValue ?? "the file header")
                }
                if tag != .alphabet, alphabet == nil { throw CheckpointError.missingSection(tag: Tag.alphabet.rawValue) }
                lastCritical = tag
            } else if alphabet == nil {
                throw CheckpointError.sectionOutOfOrder(tag: tag.rawValue, after: "the file header")
            }

            do {
            switch tag {
            case .alphabet:
                let payload = try payload(section, limit: 8 + 4 * Alphabet.Limits.maxSize)
                alphabet = try parseAlphabet(payload)
            case .model:
                let payload = try payload(section, limit: 24 + 4 * ModelConfig.Limits.maxLayers)
                config = try parseModel(payload, alphabet: alphabet!)
            case .tensors:
                guard let config else { throw CheckpointError.missingSection(tag: Tag.model.rawValue) }
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
                model = try parseTensors(payload, config: config, layout: layout)
            case .optimizer:
                guard let model else { throw CheckpointError.missingSection(tag: Tag.tensors.rawValue) }
                let count = model.layout.parameterCount
                let expected = CheckpointFormat.optimizerHeaderSize + 8 * count
                try requireLength(section, expected)
                if options.contains(.skipOptimizer) {
                    _ = try skipPayload(section)
                } else {
                    let checker = self
                    let payload = try payload(section, limit: expected, firstChecked: CheckpointFormat.optimizerHeaderSize) { start in
                        try start.withUnsafeBytes { bytes in
                            var reader = ByteReader(bytes)
                            _ = try checker.readOptimizerHeader(&reader)
                        }
                    }
                    optimizer = try parseOptimizer(payload, count: count)
                }
            case .training:
                try requireLength(section, CheckpointFormat.trainingSettingsSize)
                training = try parseTraining(try payload(section, limit: CheckpointFormat.trainingSettingsSize))
            case .history:
                let limit = 4 + CheckpointFormat.historyRecordSize * CheckpointFormat.Limits.maxHistoryRecords
                let checker = self
                let payload = try payload(section, limit: limit, firstChecked: 4) { start in
                    try checker.checkHistoryCount(start, rawLength: section.rawLength)
                }
                history = try parseHistory(payload)
            case .metadata:
                metadata = try parseMetadata(try payload(section, limit: CheckpointFormat.Limits.maxMetadataBytes))
            case .end:
                try requireLength(section, 0)
                guard section.storedLength == 0, section.flags == 0, section.storedCRC == 0, section.rawCRC == 0 else {
                    throw CheckpointError.invalid(tag: "END", reason: "the END section must be empty")
                }
                guard offset == file.count else { throw CheckpointError.trailingBytes(count: file.count - offset) }
                guard let alphabet else { throw CheckpointError.missingSection(tag: Tag.alphabet.rawValue) }
                if config != nil, model == nil { throw CheckpointError.missingSection(tag: Tag.tensors.rawValue) }
                return Checkpoint(alphabet: alphabet, model: model, optimizer: optimizer, training: training,
                                  history: history, metadata: metadata, formatVersion: (major, minor))
            }
            } catch is ByteReader.OutOfData {
                throw CheckpointError.invalid(tag: section.tagName, reason: "its contents run past the end of the section")
            }
        }
    }

    // MARK: - Sections

    mutating func readSectionHeader() throws -> SectionHeader {
        let start = offset
        guard file.count - offset >= CheckpointFormat.sectionHeaderSize else {
            if offset == file.count { throw CheckpointError.missingSection(tag: Tag.end.rawValue) }
            throw CheckpointError.truncated(offset: file.count, reading: "a section header at byte \(start)")
        }
        let bytes = UnsafeRawBufferPointer(rebasing: file[offset..<offset + CheckpointFormat.sectionHeaderSize])
        var reader = ByteReader(bytes)
        let tag = Array(try reader.raw(4))
        let flags = try reader.u32()
        let stored = try reader.u64()
        let raw = try reader.u64()
        let storedCRC = try reader.u32()
        let rawCRC = try reader.u32()
        let reserved = try reader.u32()
        let headerCRC = try reader.u32()
        guard Zlib.crc32(UnsafeRawBufferPointer(rebasing: bytes[0..<36])) == headerCRC else {
            throw CheckpointError.sectionHeaderCorrupt(offset: start)
        }
        offset += CheckpointFormat.sectionHeaderSize
        let header = SectionHeader(tagBytes: tag, flags: flags, storedLength: stored, rawLength: raw,
                                   storedCRC: storedCRC, rawCRC: rawCRC, offset: start)
        guard reserved == 0 else {
            throw CheckpointError.reservedNotZero(what: "in the header of section \(header.tagName)", value: UInt64(reserved))
        }
        guard flags & ~CheckpointFormat.flagZlib == 0 else {
            throw CheckpointError.reservedNotZero(what: "flag bits of section \(header.tagName)", value: UInt64(flags & ~CheckpointFormat.flagZlib))
        }
        guard stored <= UInt64(file.count - offset) else {
            throw CheckpointError.truncated(offset: file.count, reading: "section \(header.tagName) (\(stored) bytes from byte \(offset))")
        }
        if flags & CheckpointFormat.flagZlib == 0 {
            guard raw == stored else {
                throw CheckpointError.storedLengthMismatch(tag: header.tagName, stored: stored, raw: raw)
            }
        } else if raw > stored * UInt64(CheckpointFormat.Limits.maxCompressionRatio) + 1024 {
            throw CheckpointError.compressionRatioImpossible(tag: header.tagName, stored: stored, raw: raw)
        }
        return header
    }

    func requireLength(_ section: SectionHeader, _ expected: Int) throws {
        guard section.rawLength == UInt64(expected) else {
            throw CheckpointError.sectionLengthMismatch(tag: section.tagName, expected: expected, actual: section.rawLength)
        }
    }

    /// Moves past a section without decompressing it, still checking its stored bytes.
    mutating func skipPayload(_ section: SectionHeader) throws -> Int {
        let stored = UnsafeRawBufferPointer(rebasing: file[offset..<offset + Int(section.storedLength)])
        let crc = Zlib.crc32(stored)
        guard crc == section.storedCRC else {
            throw CheckpointError.checksumMismatch(tag: section.tagName, expected: section.storedCRC, actual: crc)
        }
        offset += Int(section.storedLength)
        return Int(section.storedLength)
    }

    /// The section's raw bytes, decompressed and CRC-checked.
    ///
    /// A compressed section's first `firstChecked` bytes are inflated on their
    /// own and given to `checkFirst` before anything is allocated for the whole
    /// section, so a decompression bomb of a legal size (a TENS of 8 GiB of
    /// zeros, say) is refused by its directory after a few bytes.
    mutating func payload(_ section: SectionHeader, limit: Int, firstChecked: Int = 0,
                          checkFirst: ([UInt8]) throws -> Void = { _ in }) throws -> [UInt8] {
        guard section.rawLength <= UInt64(limit) else {
            throw CheckpointError.sectionTooLarge(tag: section.tagName, rawLength: section.rawLength, limit: limit)
        }
        let stored = UnsafeRawBufferPointer(rebasing: file[offset..<offset + Int(section.storedLength)])
        offset += Int(section.storedLength)
        // The stored bytes are checked before zlib ever sees them.
        let storedCRC = Zlib.crc32(stored)
        guard storedCRC == section.storedCRC else {
            throw CheckpointError.checksumMismatch(tag: section.tagName, expected: section.storedCRC, actual: storedCRC)
        }
        var raw: [UInt8]
        if section.flags & CheckpointFormat.flagZlib != 0 {
            if firstChecked > 0, section.rawLength > UInt64(firstChecked) {
                var start = [UInt8](repeating: 0, count: firstChecked)
                let produced = start.withUnsafeMutableBytes { Zlib.decompressPrefix(stored, into: $0) }
                // A stream too short or corrupt to fill the start fails below, with zlib's reason.
                if produced == firstChecked { try checkFirst(start) }
            }
            // The raw bytes and the values decoded from them coexist for a moment.
            if memoryBudget > 0, section.rawLength > memoryBudget / 2 {
                throw CheckpointError.invalid(
                    tag: section.tagName,
                    reason: "it inflates to \(formatBytes(section.rawLength)), more than this machine's \(formatBytes(memoryBudget)) of memory can load")
            }
            raw = [UInt8](repeating: 0, count: Int(section.rawLength))
            do {
                try raw.withUnsafeMutableBytes { try Zlib.decompress(stored, into: $0) }
            } catch let error as Zlib.InflateError {
                switch error {
                case .corrupt(let reason):
                    throw CheckpointError.decompressionFailed(tag: section.tagName, reason: reason)
                case .lengthMismatch(let expected, let actual):
                    throw CheckpointError.decompressionFailed(
                        tag: section.tagName,
                        reason: "it decompresses to \(actual > expected ? "more than \(expected)" : "\(actual)") bytes, \(expected) recorded")
                }
            }
        } else {
            raw = Array(stored)
        }
        let crc = Zlib.crc32(raw)
        guard crc == section.rawCRC else {
            throw CheckpointError.checksumMismatch(tag: section.tagName, expected: section.rawCRC, actual: crc)
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
            let config = ModelConfig(cell: cell, hiddenSizes: sizes, alphabetSize: alphabetSize,
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

    func parseTraining(_ payload: [UInt8]) throws -> TrainingSettings {
        try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let settings = TrainingSettings(sequenceLength: Int(try reader.u32()), batchRows: Int(try reader.u32()),
                                            validationFraction: try reader.f64(), clipNorm: try reader.f64())
            if let problem = settings.problem { throw CheckpointError.invalid(tag: "TSET", reason: problem) }
            return settings
        }
    }

    func parseHistory(_ payload: [UInt8]) throws -> [EpochRecord] {
        try checkHistoryCount(payload, rawLength: UInt64(payload.count))
        return try payload.withUnsafeBytes { bytes in
            var reader = ByteReader(bytes)
            let count = Int(try reader.u32())
            var records: [EpochRecord] = []
            records.reserveCapacity(count)
            for _ in 0..<count {
                let epoch = Int(try reader.u32())
                let flags = EpochRecord.Flags(rawValue: try reader.u32())
                records.append(EpochRecord(
                    epoch: epoch, flags: flags, learningRate: try reader.f64(), trainLoss: try reader.f64(),
                    validationLoss: try reader.f64(), charsPerSecond: try reader.f64(), seconds: try reader.f64(),
                    textHash: try reader.u64(), textLength: try reader.u64(), optimizerStep: try reader.u64()))
            }
            return records
        }
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
            pairs.append((key: String(decoding: line[..<equals], as: UTF8.self),
                           value: String(decoding: line[(equals + 1)...], as: UTF8.self)))
        }
        return pairs
    }

    func field<T>(_ reader: inout ByteReader, _ tag: String, _ what: String,
                  _ read: (inout ByteReader) throws -> T) throws -> T {
        do {
            return try read(&reader)
        } catch {
            throw CheckpointError.invalid(tag: tag, reason: "too short to hold \(what)")
        }
    }
}
