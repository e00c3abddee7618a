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
        history: [EpochRecord]
    ) -> CheckpointError? {
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
