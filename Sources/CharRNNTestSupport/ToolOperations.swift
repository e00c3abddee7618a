// Everything the tools do with a checkpoint, in one process, for the
// extreme-value test and the fuzzer's `values` mode: read it (with and without
// ADAM's moments), write it back, report it as text, JSON and TSV, diff and
// plot it, sample and score with it, and train it for an epoch and write that.
// A file the reader accepts must get through all of it: every step either
// works or is refused with an error before anything is trained, and what an
// epoch writes is read back to the same checkpoint. A trap anywhere is a
// finding (it would be a crash of a tool); a broken promise is listed.

import CharRNN

public enum ToolOperations {
    /// What happened to one file.
    public struct Outcome: Sendable {
        /// The reader's refusal, or "accepted" and what the epoch did.
        public var label: String
        /// Promises broken on the way (none, for a correct charrnn).
        public var violations: [String] = []
    }

    /// Runs every operation on `bytes`.
    public static func exercise(_ bytes: [UInt8]) -> Outcome {
        let checkpoint: Checkpoint
        do {
            checkpoint = try Checkpoint(decoding: bytes)
        } catch {
            if (try? Checkpoint(decoding: bytes, options: .skipOptimizer)) != nil, !Self.isOptimizerProblem(error) {
                return Outcome(label: label(error), violations: ["read without ADAM's moments, refused with them: \(error)"])
            }
            return Outcome(label: label(error))
        }
        var outcome = Outcome(label: "accepted")
        func violation(_ text: String) { outcome.violations.append(text) }

        // Written back, read back the same. Contents are compared as the bytes they encode
        // to: a NaN weight or loss is the same value although it is not equal to itself.
        let encoded = try? checkpoint.encoded()
        if let encoded {
            do {
                let reread = try Checkpoint(decoding: encoded)
                if (try? reread.encoded()) != encoded { violation("written, read back and written again, the bytes differ") }
            } catch {
                violation("the reader refuses what the writer wrote: \(error)")
            }
        } else if checkpoint.metadataSize <= CheckpointFormat.Limits.maxMetadataBytes {
            // Notes that held invalid UTF-8 re-encode larger: only they may be refused.
            violation("the writer refuses an accepted file: \(checkpoint.writeProblem.map { "\($0)" } ?? "")")
        }
        do {
            var light = try Checkpoint(decoding: bytes, options: .skipOptimizer)
            if light.optimizer != nil { violation("read without ADAM's moments, it has them") }
            light.optimizer = checkpoint.optimizer
            if let encoded, (try? light.encoded()) != encoded { violation("read without ADAM's moments, the rest differs") }
        } catch {
            violation("refused without ADAM's moments: \(error)")
        }

        // Reports.
        var sink = StringSink()
        do {
            try CheckpointReport.writeText(checkpoint, name: "x.ckpt", to: &sink)
            try CheckpointReport.writeJSON(checkpoint, name: "x.ckpt", to: &sink)
            try CheckpointReport.writeHistoryTSV(checkpoint, to: &sink)
        } catch {
            violation("a report to a string failed: \(error)")
        }
        // Two readings of one file (as `charrnn-inspect --diff a.ckpt a.ckpt` compares them).
        if let again = try? Checkpoint(decoding: bytes), !CheckpointDiff(checkpoint, again).identical {
            violation("a checkpoint differs from itself: \(CheckpointDiff(checkpoint, again).lines.prefix(2))")
        }
        if !checkpoint.history.isEmpty { _ = try? LossPlot.svg([LabelledHistory(label: "x", history: checkpoint.history)]) }

        guard let model = checkpoint.model else { return outcome }
        let alphabet = checkpoint.alphabet
        // A text of the alphabet's symbols (not the stop symbol), long enough for an epoch.
        let symbols = (0..<alphabet.count).filter { $0 != alphabet.stopIndex }
        let text = EncodedText(indices: (0..<120).map { UInt16(symbols[($0 * 7 + $0 / 5) % symbols.count]) })

        // Sampling and scoring.
        for temperature in [0.0, 1.0] {
            let sampler = Sampler(model: model, alphabet: alphabet, seed: 1, temperature: temperature, threads: 1)
            _ = sampler.startRandom()
            for _ in 0..<20 {
                let symbol = sampler.next()
                if !(0..<alphabet.count).contains(symbol) { violation("the sampler drew index \(symbol)") }
            }
            sampler.start(prime: Array(text.indices.prefix(3).map(Int.init)))
            _ = sampler.next()
        }
        // A model whose output is not a number is refused (NonFinitePrediction), never a trap.
        _ = try? TextScore.score(Array(text.indices.prefix(40)), model: model, threads: 1)

        // An epoch: refused before training, or trained and written.
        var request = EpochRequest(learningRate: 0.002)
        request.reproducible = true
        request.threads = 1
        let plan: EpochPlan
        do {
            plan = try checkpoint.planEpoch(on: text, request: request)
        } catch {
            outcome.label = "accepted; epoch refused: " + label(error)
            return outcome
        }
        do {
            let (next, _) = try checkpoint.trainingEpoch(on: text, request: request)
            if next.history.count != plan.history.count + 1 { violation("the epoch's history is not its plan's and one record") }
            let written = try next.encoded()
            let read = try Checkpoint(decoding: written)
            if (try? read.encoded()) != written { violation("the epoch's checkpoint, written and read back, differs") }
            outcome.label = "accepted; trained"
        } catch TrainingError.diverged {
            // The weights and moments were checked finite: only values too large to compute
            // with make a loss or a gradient overflow, and that is found at the first batch.
            outcome.label = "accepted; diverged"
        } catch {
            violation("the epoch failed after its plan allowed it: \(error)")
        }
        return outcome
    }

    /// ADAM's state is read only in full: a problem there is no problem without it.
    static func isOptimizerProblem(_ error: CheckpointError) -> Bool {
        switch error {
        case .invalid(let tag, _), .decompressionFailed(let tag, _), .checksumMismatch(let tag, _, _),
            .sectionLengthMismatch(let tag, _, _), .sectionTooLarge(let tag, _, _):
            return tag == "OPTM"
        default:
            return false
        }
    }

    /// The error's case, with its section: "invalid OPTM", "sectionsDisagree", "historyFull".
    public static func label(_ error: Error) -> String {
        if let error = error as? CheckpointError {
            switch error {
            case .invalid(let tag, _), .sectionLengthMismatch(let tag, _, _), .sectionTooLarge(let tag, _, _),
                .decompressionFailed(let tag, _), .checksumMismatch(let tag, _, _):
                return "\(Mirror(reflecting: error).children.first!.label!) \(tag)"
            default:
                break
            }
        }
        return Mirror(reflecting: error).children.first?.label ?? "\(error)"
    }
}

/// Small valid checkpoints of every kind, for the extreme-value test and the
/// fuzzer: every cell, trained and fresh, settings as TSKV (1.1) and as TSET
/// (1.0), a history, notes, and a vocab checkpoint. Built the same way every time.
public enum ExtremeValueSeeds {
    public static func checkpoints() -> [(name: String, bytes: [UInt8])] {
        let alphabet = try! Alphabet(text: Array("to be, or not to be\n".unicodeScalars.map(\.value)))
        let symbols = (0..<alphabet.count).filter { $0 != alphabet.stopIndex }
        let text = EncodedText(indices: (0..<150).map { UInt16(symbols[($0 * 5 + $0 / 3) % symbols.count]) })
        var request = EpochRequest(learningRate: 0.01)
        request.reproducible = true
        request.threads = 1
        request.set(\.batchRows, 3)
        request.set(\.sequenceLength, 20)
        func trained(
            _ cell: CellKind, _ hidden: [Int], epochs: Int, dropout: Double? = nil, weightDecay: Double? = nil,
            regularised: Bool = false
        ) -> Checkpoint {
            var request = request
            if let dropout { request.set(\.dropout, dropout) }
            if let weightDecay { request.set(\.weightDecay, weightDecay) }
            if regularised {
                request.set(\.weightDrop, 0.25)
                request.set(\.lockedDropout, 0.2)
                request.set(\.inputDropout, 0.1)
            }
            var checkpoint = Checkpoint(
                alphabet: alphabet,
                model: Model(
                    initialising: ModelConfig(
                        cell: cell, hiddenSizes: hidden, alphabetSize: alphabet.count, seed: 3)))
            for _ in 0..<epochs { checkpoint = try! checkpoint.trainingEpoch(on: text, request: request).0 }
            return checkpoint
        }
        var lstm = trained(.lstm, [3, 2], epochs: 2)
        lstm.metadata = [(key: "note", value: "a=b")]
        let gru = try! trained(.gru, [2], epochs: 1).encoded()
        return [
            ("lstm, 2 epochs", try! lstm.encoded()),
            ("gru, 1 epoch, settings as TSET", withTSET(gru)),
            ("rnn, 1 epoch with dropout and weight decay", try! trained(.rnn, [3], epochs: 1, dropout: 0.25, weightDecay: 0.01).encoded()),
            ("gru, 1 epoch with weight drop, locked and input dropout", try! trained(.gru, [3], epochs: 1, regularised: true).encoded()),
            (
                "mlstm, fresh",
                try! Checkpoint(
                    alphabet: alphabet,
                    model: Model(
                        initialising: ModelConfig(
                            cell: .mlstm, hiddenSizes: [2], alphabetSize: alphabet.count, seed: 4))
                ).encoded()
            ),
            ("vocab", try! Checkpoint(alphabet: alphabet).encoded()),
        ]
    }

    /// `file` with its TSKV replaced by the TSET of format 1.0 holding the same
    /// four settings (u32 sequence_length, u32 batch_rows, f64 validation_fraction, f64 clip_norm).
    static func withTSET(_ file: [UInt8]) -> [UInt8] {
        let settings = try! Checkpoint(decoding: file).training!
        var content: [UInt8] = []
        for value in [UInt32(settings.sequenceLength), UInt32(settings.batchRows)] { content += withUnsafeBytes(of: value.littleEndian, Array.init) }
        for value in [settings.validationFraction, settings.clipNorm] { content += withUnsafeBytes(of: value.bitPattern.littleEndian, Array.init) }
        let unsealed = CheckpointSealing.unsealed(file)
        var output = Array(unsealed.prefix(CheckpointFormat.fileHeaderSize))
        var offset = CheckpointFormat.fileHeaderSize
        while unsealed.count - offset >= SectionHeader.size {
            var header = SectionHeader(fields: Array(unsealed[offset..<offset + SectionHeader.size]))
            let payload = Array(unsealed[(offset + SectionHeader.size)..<(offset + SectionHeader.size + Int(header.storedLength))])
            offset += SectionHeader.size + payload.count
            if header.tagName == "TSKV" {
                header.tag = Array("TSET".utf8)
                header.storedLength = UInt64(content.count)
                output += header.encoded() + content
            } else {
                output += header.encoded() + payload
            }
        }
        return CheckpointSealing.sealed(output)
    }
}
