// Serialises a Checkpoint to format 1.x bytes (see formats/checkpoint.md),
// stamped with the oldest version whose rules the file follows.
// The output depends only on the checkpoint's contents, so the same contents
// always give the same bytes. Training settings the reader did not know
// (`TrainingSettings.unrecognised`) are written back as they were read.

extension Checkpoint {
    /// The version the writer stamps: 1.1, or the minor that added the newest
    /// setting it writes (1.2 with dropout); at least the version it was read
    /// with when it carries settings this charrnn does not know.
    public var stampedVersion: (major: UInt16, minor: UInt16) {
        var minor = max(CheckpointFormat.version.minor, training?.minorVersion ?? 0)
        if training?.unrecognised.isEmpty == false, formatVersion.major == CheckpointFormat.version.major {
            minor = max(minor, formatVersion.minor)
        }
        return (CheckpointFormat.version.major, minor)
    }

    /// The file's bytes.
    public func encoded() -> [UInt8] {
        var file = ByteWriter()
        file.raw(CheckpointFormat.magic)
        let version = stampedVersion
        file.u16(version.major)
        file.u16(version.minor)
        file.u32(Zlib.crc32(file.bytes))

        appendSection(.alphabet, to: &file) { body in
            body.u32(UInt32(alphabet.count))
            body.u32(UInt32(alphabet.stopIndex))
            for symbol in alphabet.symbols { body.u32(symbol) }
        }
        if let model {
            let config = model.config
            appendSection(.model, to: &file) { body in
                body.u32(config.cell.rawValue)
                body.u32(config.initialiser.rawValue)
                body.u64(config.seed)
                body.u32(UInt32(config.alphabetSize))
                body.u32(UInt32(config.hiddenSizes.count))
                for size in config.hiddenSizes { body.u32(UInt32(size)) }
            }
            appendSection(.tensors, to: &file) { body in
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
            if let optimizer {
                appendSection(.optimizer, to: &file) { body in
                    body.u64(optimizer.step)
                    body.f64(optimizer.beta1)
                    body.f64(optimizer.beta2)
                    body.f64(optimizer.epsilon)
                    optimizer.m.withUnsafeBufferPointer { body.floats($0) }
                    optimizer.v.withUnsafeBufferPointer { body.floats($0) }
                }
            }
        }
        if let training {
            // Format 1.1 writes TSKV only; TSET (1.0) is read, never written.
            appendSection(.trainingKeyValues, to: &file) { body in
                let entries = training.entries
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
        }
        if !history.isEmpty {
            appendSection(.history, to: &file) { body in
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
        }
        if !metadata.isEmpty {
            appendSection(.metadata, to: &file) { body in
                for (key, value) in metadata {
                    // Keys cannot hold "=" and lines cannot hold line breaks: both are replaced.
                    let cleanKey = String(key.map { $0 == "=" || $0.isNewline ? "_" : $0 })
                    let cleanValue = String(value.map { $0.isNewline ? " " : $0 })
                    body.raw("\(cleanKey)=\(cleanValue)\n".utf8)
                }
            }
        }
        appendSection(.end, to: &file) { _ in }
        return file.bytes
    }

    /// Appends one section: its header, then the payload, deflated when that
    /// makes it smaller and stored as is otherwise.
    private func appendSection(_ tag: CheckpointFormat.Tag, to file: inout ByteWriter,
                               _ build: (inout ByteWriter) -> Void) {
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
