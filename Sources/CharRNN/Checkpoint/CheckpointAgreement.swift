// The sections of one checkpoint must agree with each other
// (formats/checkpoint.md §3.1): a history describes the training of the model
// in the same file, with the settings in the same file, and ADAM's step count
// is where the last epoch of that history left it. The reader checks these
// once the whole file is read, and the writer before it writes, with this one
// function, so a file spliced together from two checkpoints is refused by
// every tool and never written.

enum CheckpointAgreement {
    /// The first rule the sections break, or nil.
    static func problem(
        hasModel: Bool, optimizerStep: UInt64?, hasSettings: Bool,
        history: [EpochRecord], partial: PartialEpoch? = nil, batchRows: Int? = nil
    ) -> CheckpointError? {
        if let partial {
            // §3.1, format 1.4: a partial epoch continues the history, with the model, ADAM's state
            // and the settings it was stopped with, and ADAM is where its sequences took it.
            let part = "PART holds epoch \(partial.epoch) stopped after \(partial.sequencesDone) of \(partial.sequences) sequences"
            if !hasModel { return .sectionsDisagree("\(part), but the file holds no model (MODL) that it trains") }
            guard let step = optimizerStep else { return .sectionsDisagree("\(part), but the file holds no optimizer state (OPTM)") }
            guard let batchRows else { return .sectionsDisagree("\(part), but the file holds no training settings (TSKV)") }
            let expected = (history.last?.epoch ?? 0) + 1
            if partial.epoch != expected {
                return .sectionsDisagree("\(part), but the next epoch after HIST is \(expected)")
            }
            if partial.rows > batchRows {
                return .sectionsDisagree("\(part) over \(partial.rows) batch rows, but the settings allow \(batchRows) (batch_rows)")
            }
            if partial.flags.contains(.optimizerReset), partial.startStep != 0 {
                return .sectionsDisagree("\(part) after ADAM was reset, but says ADAM started it at step \(partial.startStep)")
            }
            if !partial.flags.contains(.optimizerReset), let last = history.last, partial.startStep != last.optimizerStep {
                return .sectionsDisagree(
                    "\(part) from ADAM's step \(partial.startStep), but the last epoch in HIST (epoch \(last.epoch)) ended at step \(last.optimizerStep)"
                )
            }
            if step < partial.startStep || step - partial.startStep > UInt64(partial.sequencesDone) {
                return .sectionsDisagree(
                    "OPTM says ADAM has taken \(step) steps, but \(part) from step \(partial.startStep) (one step a sequence at most)")
            }
            return nil
        }
        if !history.isEmpty {
            let epochs = "HIST holds \(history.count) epoch\(history.count == 1 ? "" : "s") of training"
            if !hasModel { return .sectionsDisagree("\(epochs), but the file holds no model (MODL) that they trained") }
            if !hasSettings { return .sectionsDisagree("\(epochs), but the file holds no training settings (TSKV or TSET)") }
        }
        if let step = optimizerStep {
            let steps = "OPTM says ADAM has taken \(step) step\(step == 1 ? "" : "s")"
            guard let last = history.last else {
                if step != 0 { return .sectionsDisagree("\(steps), but the file holds no history (HIST) of the epochs that took them") }
                return nil
            }
            if step != last.optimizerStep {
                return .sectionsDisagree("\(steps), but the last epoch in HIST (epoch \(last.epoch)) ended at step \(last.optimizerStep)")
            }
        }
        return nil
    }
}
