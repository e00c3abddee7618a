// Serialises a Checkpoint to format 1.x bytes (see formats/checkpoint.md),
// stamped with the oldest version whose rules the file follows.
// The output depends only on the checkpoint's contents, so the same contents
// always give the same bytes. Training settings the reader did not know
// (`TrainingSettings.unrecognised`) are written back as they were read.
//
// The writer never writes what the reader refuses: `writeProblem` checks every
// limit and rule of the format that the in-memory checkpoint could break (a
// counter past its field, a history past its limit, notes that re-encode past
// theirs, sections that disagree) before a byte is produced.

extension Checkpoint {
    /// The version the writer stamps: 1.1, or the minor that added the newest
    /// thing it writes, its model's cell (`RecurrentCell.formatMinorVersion`)
    /// or a setting (1.2 with dropout); at least the version it was read
    /// with when it carries settings this charrnn does not know.
    public var stampedVersion: (major: UInt16, minor: UInt16) {
        var minor = max(CheckpointFormat.version.minor, model?.config.cell.formatMinorVersion ?? 0, training?.minorVersion ?? 0)
        if partial != nil { minor = max(minor, CheckpointFormat.partialEpochMinorVersion) }
        if !validationPoints.isEmpty { minor = max(minor, ValidationCurve.minorVersion) }
        if training?.unrecognised.isEmpty == false, formatVersion.major == CheckpointFormat.version.major {
            minor = max(minor, formatVersion.minor)
        }
        return (CheckpointFormat.version.major, minor)
    }

    /// The file's bytes, or the error the reader would refuse them with.
    public func encoded() throws(CheckpointError) -> [UInt8] {
        if let problem = writeProblem { throw problem }
        return unsafeEncoded()
    }

    /// What makes this checkpoint one the format does not allow, or nil.
    public var writeProblem: CheckpointError? {
        if let model {
            do {
                try model.config.validate()
            } catch {
                return .invalid(tag: "MODL", reason: "\(error)")
            }
            if model.config.alphabetSize != alphabet.count {
                return .invalid(tag: "MODL", reason: "the model is for \(model.config.alphabetSize) symbols but the alphabet has \(alphabet.count)")
            }
        }
        if let optimizer {
            guard let model else { return .missingSection(tag: CheckpointFormat.Tag.tensors.rawValue) }
            let count = model.layout.parameterCount
            if optimizer.m.count != count || optimizer.v.count != count {
                return .sectionLengthMismatch(
                    tag: "OPTM", expected: CheckpointFormat.optimizerHeaderSize + 8 * count,
                    actual: UInt64(CheckpointFormat.optimizerHeaderSize + 4 * (optimizer.m.count + optimizer.v.count)))
            }
            for (name, value) in [("beta1", optimizer.beta1), ("beta2", optimizer.beta2)] where !(value >= 0 && value < 1) {
                return .invalid(tag: "OPTM", reason: "\(name) = \(value) is outside [0, 1)")
            }
            if !(optimizer.epsilon > 0 && optimizer.epsilon.isFinite) {
                return .invalid(tag: "OPTM", reason: "epsilon = \(optimizer.epsilon) must be a positive number")
            }
        }
        if let training {
            if let problem = training.problem { return .invalid(tag: "TSKV", reason: problem) }
            let entries = training.entries
            if entries.count > CheckpointFormat.Limits.maxSettings {
                return .invalid(tag: "TSKV", reason: "\(entries.count) entries is more than the \(CheckpointFormat.Limits.maxSettings) allowed")
            }
            let size = Self.settingsSize(entries)
            if size > CheckpointFormat.Limits.maxSettingsBytes {
                return .sectionTooLarge(tag: "TSKV", rawLength: UInt64(size), limit: CheckpointFormat.Limits.maxSettingsBytes)
            }
        }
        if history.count > CheckpointFormat.Limits.maxHistoryRecords {
            return .sectionTooLarge(
                tag: "HIST", rawLength: UInt64(4 + CheckpointFormat.historyRecordSize * history.count),
                limit: 4 + CheckpointFormat.historyRecordSize * CheckpointFormat.Limits.maxHistoryRecords)
        }
        if let record = history.first(where: { !(0...Int(UInt32.max)).contains($0.epoch) }) {
            return .invalid(tag: "HIST", reason: "epoch \(record.epoch) does not fit the record's 32-bit epoch field (0...\(UInt32.max))")
        }
        for note in metadata {
            if let problem = Self.noteProblem(key: note.key, value: note.value) { return .invalid(tag: "meta", reason: problem) }
        }
        let notes = metadataSize
        if notes > CheckpointFormat.Limits.maxMetadataBytes {
            return .sectionTooLarge(tag: "meta", rawLength: UInt64(notes), limit: CheckpointFormat.Limits.maxMetadataBytes)
        }
        if let partial {
            guard let model else { return .missingSection(tag: CheckpointFormat.Tag.tensors.rawValue) }
            if let problem = partial.problem(config: model.config) { return problem }
        }
        if let problem = ValidationCurve.problem(validationPoints)
            ?? ValidationCurve.disagreement(validationPoints, history: history, partial: partial)
        {
            return .invalid(tag: "vcur", reason: problem.description)
        }
        return CheckpointAgreement.problem(
            hasModel: model != nil, optimizerStep: optimizer?.step,
            hasSettings: training != nil, history: history, partial: partial,
            batchRows: training?.batchRows)
    }

    /// Bytes of the meta section this checkpoint's notes encode to.
    public var metadataSize: Int {
        metadata.reduce(0) { $0 + Self.metadataLine($1).utf8.count }
    }

    /// One note as the meta section holds it, byte for byte (`noteProblem` has nothing against it).
    static func metadataLine(_ pair: (key: String, value: String)) -> String {
        "\(pair.key)=\(pair.value)\n"
    }

    /// The one rule for a note (checkpoint.md §4.7), on its UTF-8 bytes, since
    /// the meta section splits bytes: a key holds no `=` (0x3D) and no LF (0x0A),
    /// a value no LF. Anything else is kept as it is: CR, U+0085, U+2028 and
    /// U+2029 are not line ends here, and a `=` with a combining mark after it is
    /// still a `=` byte. The writer refuses a note that breaks it, and so does
    /// the safetensors reader; every note the meta reader returns keeps it.
    /// nil when the note can be kept.
    public static func noteProblem(key: String, value: String) -> String? {
        if key.utf8.contains(0x3D) { return "the key \(JSON.string(key).rendered()) holds '=', which ends a key" }
        if key.utf8.contains(0x0A) { return "the key \(JSON.string(key).rendered()) holds a line feed, which ends a note" }
        if value.utf8.contains(0x0A) { return "the value of \(JSON.string(key).rendered()) holds a line feed, which ends a note" }
        return nil
    }

    static func settingsSize(_ entries: [TrainingSettings.Entry]) -> Int {
        entries.reduce(4) { size, entry in
            let value: Int
            switch entry.value {
            case .u64, .f64: value = 8
            case .text(let text): value = 4 + text.utf8.count
            }
            return size + 2 + entry.key.utf8.count + value
        }
    }

    /// The bytes, unchecked: only for a checkpoint `writeProblem` has nothing against.
    /// The file header, then the sections in their order (checkpoint.md §3), one function each.
    private func unsafeEncoded() -> [UInt8] {
        var file = ByteWriter()
        file.raw(CheckpointFormat.magic)
        let version = stampedVersion
        file.u16(version.major)
        file.u16(version.minor)
        file.u32(Zlib.crc32(file.bytes))

        appendSection(.alphabet, to: &file, encodeAlphabet)
        if let model {
            appendSection(.model, to: &file) { Self.encodeModel(model.config, into: &$0) }
            appendSection(.tensors, to: &file) { Self.encodeTensors(model, into: &$0) }
            if let optimizer {
                appendSection(.optimizer, to: &file) { Self.encodeOptimizer(optimizer, into: &$0) }
            }
        }
        if let training {
            // Format 1.1 writes TSKV only; TSET (1.0) is read, never written.
            appendSection(.trainingKeyValues, to: &file) { Self.encodeSettings(training.entries, into: &$0) }
        }
        if !history.isEmpty {
            appendSection(.history, to: &file) { Self.encodeHistory(history, into: &$0) }
        }
        if let partial {
            appendSection(.partial, to: &file) { body in partial.encode(into: &body) }
        }
        if !validationPoints.isEmpty {
            appendSection(.validationCurve, to: &file) { body in ValidationCurve.encode(validationPoints, into: &body) }
        }
        if !metadata.isEmpty {
            appendSection(.metadata, to: &file) { body in
                for pair in metadata { body.raw(Self.metadataLine(pair).utf8) }
            }
        }
        appendSection(.end, to: &file) { _ in }
        return file.bytes
    }

    /// ALPH (§4.1): N, the stop index, the code points.
    private func encodeAlphabet(into body: inout ByteWriter) {
        body.u32(UInt32(alphabet.count))
        body.u32(UInt32(alphabet.stopIndex))
        for symbol in alphabet.symbols { body.u32(symbol) }
    }

    /// MODL (§4.2).
    private static func encodeModel(_ config: ModelConfig, into body: inout ByteWriter) {
        body.u32(config.cell.rawValue)
        body.u32(config.initialiser.rawValue)
        body.u64(config.seed)
        body.u32(UInt32(config.alphabetSize))
        body.u32(UInt32(config.hiddenSizes.count))
        for size in config.hiddenSizes { body.u32(UInt32(size)) }
    }

    /// TENS (§4.3): the directory, padding to a multiple of 4, then the floats.
    private static func encodeTensors(_ model: Model, into body: inout ByteWriter) {
        let layout = model.layout
        body.u32(UInt32(layout.tensors.count))
        for tensor in layout.tensors {
            body.u8(UInt8(tensor.name.utf8.count))
            body.raw(tensor.name.utf8)
            body.u8(UInt8(tensor.shape.count))
            for dimension in tensor.shape { body.u32(UInt32(dimension)) }
        }
        while body.bytes.count % 4 != 0 { body.u8(0) }
        model.parameters.withUnsafeBufferPointer { body.floats($0) }
    }

    /// OPTM (§4.4): the step and constants, then m and v.
    private static func encodeOptimizer(_ optimizer: AdamState, into body: inout ByteWriter) {
        body.u64(optimizer.step)
        body.f64(optimizer.beta1)
        body.f64(optimizer.beta2)
        body.f64(optimizer.epsilon)
        optimizer.m.withUnsafeBufferPointer { body.floats($0) }
        optimizer.v.withUnsafeBufferPointer { body.floats($0) }
    }

    /// TSKV (§4.5): K, then each entry's key, type code and value.
    private static func encodeSettings(_ entries: [TrainingSettings.Entry], into body: inout ByteWriter) {
        body.u32(UInt32(entries.count))
        for entry in entries {
            body.u8(UInt8(entry.key.utf8.count))
            body.raw(entry.key.utf8)
            body.u8(entry.value.type.rawValue)
            switch entry.value {
            case .u64(let value): body.u64(value)
            case .f64(let value): body.f64(value)
            case .text(let value):
                body.u32(UInt32(value.utf8.count))
                body.raw(value.utf8)
            }
        }
    }

    /// HIST (§4.6): R, then the 72-byte records.
    private static func encodeHistory(_ history: [EpochRecord], into body: inout ByteWriter) {
        body.u32(UInt32(history.count))
        for record in history {
            body.u32(UInt32(record.epoch))
            body.u32(record.flags.rawValue)
            body.f64(record.learningRate)
            body.f64(record.trainLoss)
            body.f64(record.validationLoss)
            body.f64(record.charsPerSecond)
            body.f64(record.seconds)
            body.u64(record.textHash)
            body.u64(record.textLength)
            body.u64(record.optimizerStep)
        }
    }

    /// Appends one section: its header, then the payload, deflated when that
    /// makes it smaller and stored as is otherwise.
    private func appendSection(
        _ tag: CheckpointFormat.Tag, to file: inout ByteWriter,
        _ build: (inout ByteWriter) -> Void
    ) {
        var body = ByteWriter()
        build(&body)
        let raw = body.bytes
        var flags: UInt32 = 0
        var stored = raw
        if !raw.isEmpty {
            let compressed = raw.withUnsafeBytes { Zlib.compress($0, level: CheckpointFormat.compressionLevel) }
            if compressed.count < raw.count {
                flags = CheckpointFormat.flagZlib
                stored = compressed
            }
        }
        file.raw(SectionHeader(tag: tag.bytes, flags: flags, stored: stored, raw: raw).encoded())
        file.raw(stored)
    }
}
