// RecipePlan: what scripts/recipe trains for a text and a wall-clock budget.
//
// A pure function of four numbers: the text's size in characters, its
// alphabet, the minutes to spend, and this machine's measured speed (the
// characters per second an mLSTM 256,256 trains, from a short calibration).
// It picks the model, its regularisation, the schedule and the number of
// epochs, predicts the time each part takes, and says why in one paragraph.
// The rule and the measurements behind its constants are in docs/quality.md
// ("A recipe for any text and budget").
//
// The rule, in the order it is applied:
//   1. speed: a model's chars/s is the calibrated multiply-adds per second
//      over its multiply-adds per character (MACs, as scripts/bench counts
//      them), a little less for narrow layers, which use the cores less well;
//   2. size: the widest 2-layer mLSTM (32...512 units, in steps of 32) that
//      (a) trains at least `charactersPerParameter` characters per parameter
//          in the budget (compute-limited: a bigger model would see too little),
//      (b) takes at least `minimumSteps` optimizer steps, and
//      (c) has at most `parametersPerCharacter` parameters per training
//          character of the text (data-limited: a bigger one overfits);
//   3. dropout from the parameters per training character times the epochs
//      (more for a model that is large for its text or sees it often); locked
//      dropout, weight drop and weight decay 0 (on tinyshakespeare's 60-minute
//      run, locked dropout with weight drop lost to dropout: docs/quality.md);
//   4. epochs: as many whole ones as fit in 80% of the budget after the fixed costs
//      (at most `maximumEpochs`); a text too long for `minimumEpochs` passes is
//      sampled down to what fits them (blocks spread over all of it, so that
//      the model sees every part, as `spreadSample` says), so that every
//      epoch ends with a validation loss and the cosine schedule runs its course;
//   5. members: a model that would see a small text at more than twice
//      `memberPressure` (parameters per training character times epochs)
//      is trained as several of `memberPressure` or a little more each
//      (at most `maximumMembers`, seeds 1, 2, ...), the budget's epochs shared
//      between them, and the result is their ensemble (the mean of their
//      probabilities): on tinyshakespeare one mLSTM 512 reached 1.4310 in 10
//      epochs and no more in 20-31, while two of 10 epochs reached 1.40;
//   6. learning rate: cosine from 0.002 (0.0015 above 384 units for one model
//      of many epochs, where 0.002 diverged; the members' 12 epochs or fewer
//      did not) down to a twentieth of it.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What scripts/recipe is given: the text, the budget and this machine's speed.
public struct RecipeRequest: Equatable, Sendable {
    /// Characters (Unicode scalars) in the whole text.
    public var textCharacters: Int
    /// Symbols in the text's alphabet, the stop symbol included.
    public var alphabetSize: Int
    /// Wall-clock minutes for training, the fixed costs included (calibration excluded).
    public var minutes: Double
    /// Characters per second an mLSTM 256,256 trains on this machine (`RecipePlan.reference`).
    public var referenceCharsPerSecond: Double

    public init(textCharacters: Int, alphabetSize: Int, minutes: Double, referenceCharsPerSecond: Double) {
        self.textCharacters = textCharacters
        self.alphabetSize = alphabetSize
        self.minutes = minutes
        self.referenceCharsPerSecond = referenceCharsPerSecond
    }
}

/// Why no plan can be made: each case's description is one line for the user.
public enum RecipePlanError: Error, Equatable, CustomStringConvertible {
    case budget(Double)
    case emptyText
    case alphabet(Int)
    case speed(Double)
    /// The budget does not cover the fixed costs and a little training.
    case tooLittleTime(minutes: Double, neededSeconds: Int)
    /// The text (or the budget's sample of it) has fewer characters than one batch needs.
    case tooLittleText(characters: Int, needed: Int)

    public var description: String {
        switch self {
        case .budget(let minutes):
            "the budget must be a positive number of minutes, not \(formatted(minutes))"
        case .emptyText:
            "the text is empty"
        case .tooLittleTime(let minutes, let needed):
            "\(formatted(minutes)) minutes are too few to train anything: give at least \(needed) seconds (\(format("%.2g", Double(needed) / 60)) minutes)"
        case .alphabet(let size):
            "the alphabet must have at least 2 symbols, not \(size)"
        case .speed(let speed):
            "the calibration must be a positive number of characters per second, not \(formatted(speed))"
        case .tooLittleText(let characters, let needed):
            "\(characters) characters of text are too few to train on: give at least \(needed) (and a budget that trains them)"
        }
    }

    private func formatted(_ value: Double) -> String { value.isFinite ? format("%g", value) : "\(value)" }
}

/// The model, its training and the predicted times for one recipe run.
public struct RecipePlan: Equatable, Sendable {
    public var cell: CellKind
    public var hiddenSizes: [Int]
    public var parameters: Int
    public var dropout: Double
    /// `--locked-dropout` and `--weight-drop`: 0 in the rule's plans (the
    /// measurements in docs/quality.md), named so that a plan states every
    /// regulariser scripts/recipe sets.
    public var lockedDropout: Double
    public var weightDrop: Double
    public var weightDecay: Double
    /// Cosine schedule from `learningRate` (epoch 1) to `learningRateMin` (the last epoch).
    public var learningRate: Double
    public var learningRateMin: Double
    /// Epochs of each member.
    public var epochs: Int
    /// Models trained one after another (seeds 1...members), each for `epochs`;
    /// more than one are the result together, as an ensemble.
    public var members: Int
    public var batchRows: Int
    public var sequenceLength: Int
    public var validationFraction: Double
    /// Characters of the text trained on: all of them, or a sample of a long one
    /// (its last `validationFraction` held out).
    public var textCharacters: Int
    /// The sample of a long text, as character offsets into it (`spreadSample`);
    /// empty when the recipe trains on the whole text.
    public var sampleBlocks: [Range<Int>]
    /// Predicted training speed of this model, characters per second.
    public var charsPerSecond: Double
    /// Predicted seconds of one epoch: training, validation and the per-epoch
    /// costs (starting the tools, writing and reading checkpoints, the sample).
    public var epochSeconds: Double
    /// The part of `epochSeconds` that is not training: validation and the per-epoch costs.
    public var epochOverheadSeconds: Double
    /// Predicted seconds of an ensemble's score on the held-out part, after the last
    /// member (0 for one model): a validation pass of each member.
    public var ensembleSeconds: Double
    /// Predicted seconds of the whole run: the fixed start, every member's epochs, the ensemble's score.
    public var predictedSeconds: Double
    /// One paragraph: the rule that fired and its numbers.
    public var reason: String

    // MARK: - The rule's constants (docs/quality.md gives the measurements)

    /// The calibration model: its chars/s, times its MACs per character, is the machine's rate.
    public static let reference = (cell: CellKind.mlstm, hiddenSizes: [256, 256])
    /// Characters trained per parameter that a compute-limited budget aims for:
    /// the 12- and 60-minute tinyshakespeare recipes trained 2.5 and 4.4.
    public static let charactersPerParameter = 3.0
    /// Fewest optimizer steps: in the 1-minute baselines an LSTM 128 that took
    /// 6,800 steps beat one of 256 units that took 2,400; on 0.1 MB in 2 minutes,
    /// 1,500 forced an mLSTM 32,32 (2.04 nats/char) where 64 units reached 1.74.
    public static let minimumSteps = 1_000
    /// Most parameters per training character: mLSTM 512,512 (4.1 per character
    /// of tinyshakespeare) overfits from epoch 10 on even at dropout 0.35.
    public static let parametersPerCharacter = 4.0
    /// Parameters per training character times epochs one member trains at least,
    /// when a run is split into members: the 10-epoch mLSTM 512,512 on
    /// tinyshakespeare, 4.1 x 10 = 41, reached 1.4310 (dropout 0.3), the same
    /// model 4.1 x 20-31 no better than 1.44, and two of the first together 1.40
    /// (docs/quality.md); 30 keeps the members at 30-60.
    public static let memberPressure = 30.0
    public static let maximumMembers = 4
    /// Epochs a member trains at 0.002 whatever its width (the 10-epoch runs above).
    public static let memberEpochsAtFullRate = 12
    public static let widths = Array(stride(from: 32, through: 512, by: 32))
    public static let layers = 2
    public static let minimumEpochs = 2
    public static let maximumEpochs = 100
    /// Share of the budget the model is sized for (the characters it trains);
    /// the rest absorbs a slower machine (scripts/recipe stops the last epoch
    /// inside when time runs out).
    public static let budgetShare = 0.9
    /// The length of a long text's sample blocks, in characters: 1,000 sequences of 50.
    public static let sampleBlockCharacters = 50_000
    /// Share of the budget the plan's whole epochs fill, and that the sample of a
    /// long text is cut to fit. With few epochs, a machine slower than predicted
    /// loses a whole one: an mLSTM 352,352 planned at 9,587 chars/s on one core
    /// trained at 8,360 (13% slower; docs/quality.md), so the second of two
    /// epochs did not fit 15 minutes. scripts/recipe refits the number of
    /// epochs to the measured time after each one, so a faster machine still
    /// gets the minutes this leaves.
    public static let epochShare = 0.8
    /// Seconds before the first epoch: the alphabet, the fresh model, the first checkpoint.
    public static let startSeconds = 3.0
    /// Seconds each epoch costs besides its training and validation: scripts/train's
    /// checks and about ten tool starts, the checkpoint written once and read
    /// four times, the sample. Measured 2.8 s an epoch of an mLSTM 64,64 on a
    /// busy machine (docs/quality.md), of which 0.6 s trained and validated.
    public static func epochCostSeconds(parameters: Int) -> Double { 2.0 + 2.0e-6 * Double(parameters) }
    public static let sequenceLength = 50
    public static let batchRows = 50
    public static let validationFraction = 0.1

    // MARK: - Counting

    /// Multiply-adds per character of the forward pass (scripts/bench's
    /// macs_per_char): the first layer's one-hot input is a gather, not a product.
    public static func multiplyAddsPerCharacter(cell: CellKind, hiddenSizes: [Int], alphabetSize: Int) -> Int {
        var total = 0
        for (layer, size) in hiddenSizes.enumerated() {
            let input = layer > 0 ? hiddenSizes[layer - 1] : 0
            // Products per unit: the mLSTM's [Wh; Wmh] and [Wi; Wmx] are 5 x H tall, an LSTM's 4 x H, a GRU's 3 x H.
            let gates = cell == .mlstm ? 5 : cell == .lstm ? 4 : cell == .gru ? 3 : 1
            total += gates * size * (size + input)
        }
        return total + hiddenSizes.last! * alphabetSize
    }

    /// How much less of the machine's rate a layer of `width` units gets than
    /// the reference's 256: measured LSTM rates (docs/quality.md, Baselines)
    /// were 0.87 of it at 128 units and 1.12 at 512, about (width / 256)^0.18.
    public static func efficiency(width: Int) -> Double {
        min(1.1, pow(Double(width) / 256, 0.18))
    }

    // MARK: - The chooser

    public static func choose(for request: RecipeRequest) throws(RecipePlanError) -> RecipePlan {
        guard request.minutes.isFinite, request.minutes > 0 else { throw .budget(request.minutes) }
        guard request.textCharacters > 0 else { throw .emptyText }
        guard request.alphabetSize >= 2 else { throw .alphabet(request.alphabetSize) }
        guard request.referenceCharsPerSecond.isFinite, request.referenceCharsPerSecond > 0 else {
            throw .speed(request.referenceCharsPerSecond)
        }
        let alphabet = request.alphabetSize
        let seconds = request.minutes * 60
        let usable = seconds * budgetShare - startSeconds
        // The fixed start, one epoch's costs for the narrowest model, and two seconds of training.
        let leastSeconds = (startSeconds + epochCostSeconds(parameters: 0) + 2) / budgetShare
        guard seconds >= leastSeconds else { throw .tooLittleTime(minutes: request.minutes, neededSeconds: Int(leastSeconds.rounded(.up))) }
        let referenceMACs = multiplyAddsPerCharacter(cell: reference.cell, hiddenSizes: reference.hiddenSizes, alphabetSize: alphabet)
        let rate = request.referenceCharsPerSecond * Double(referenceMACs) / efficiency(width: reference.hiddenSizes[0])
        let trainCharacters = Double(request.textCharacters) * (1 - validationFraction)
        let charsPerStep = Double(batchRows * sequenceLength)

        struct Candidate {
            var width: Int, parameters: Int, charsPerSecond: Double, cost: Double, epoch: Double, passes: Double, trained: Double
        }
        func candidate(_ width: Int) -> Candidate {
            let sizes = Array(repeating: width, count: layers)
            let config = ModelConfig(cell: .mlstm, hiddenSizes: sizes, alphabetSize: alphabet, seed: 1)
            let parameters = (try? config.validate()) ?? Int.max
            let macs = multiplyAddsPerCharacter(cell: .mlstm, hiddenSizes: sizes, alphabetSize: alphabet)
            let speed = rate * efficiency(width: width) / Double(macs)
            let cost = epochCostSeconds(parameters: parameters)
            // One pass over the whole text: training, validation (a forward pass, a third of the work), costs.
            let epoch = trainCharacters / speed + trainCharacters * validationFraction / (1 - validationFraction) / (3 * speed) + cost
            let passes = max(0, usable) / epoch
            // Characters it trains in the budget: passes over the text, the last one perhaps in part.
            let trained = passes * trainCharacters
            return Candidate(
                width: width, parameters: parameters, charsPerSecond: speed, cost: cost, epoch: epoch, passes: passes, trained: trained)
        }
        let candidates = widths.map(candidate)
        // The widest that meets all three limits; failing that, the narrowest.
        struct Limits { var compute: Bool, steps: Bool, data: Bool; var all: Bool { compute && steps && data } }
        func limits(_ c: Candidate) -> Limits {
            Limits(
                compute: c.trained >= charactersPerParameter * Double(c.parameters),
                steps: c.trained >= Double(minimumSteps) * charsPerStep,
                data: Double(c.parameters) <= parametersPerCharacter * trainCharacters)
        }
        let chosen = candidates.last { limits($0).all } ?? candidates[0]
        // What stopped the next width up: the rule that fired.
        let next = candidates.first { $0.width > chosen.width }

        // Epochs over the whole text, or over the sample that fits minimumEpochs passes.
        var textCharacters = request.textCharacters
        // Passes over the whole text in epochShare of the budget.
        let fitting = max(0, seconds * epochShare - startSeconds) / chosen.epoch
        var epochs = Int(min(fitting, 1e6).rounded(.down))
        let cut = epochs < minimumEpochs
        let validationSecondsPerCharacter = validationFraction / (1 - validationFraction) / (3 * chosen.charsPerSecond)
        if cut {
            epochs = minimumEpochs
            // usable = start... : epochs * (train / speed + val + cost) for a sample with `train` characters.
            let perEpoch = max(0, seconds * epochShare - startSeconds) / Double(epochs) - chosen.cost
            let train = perEpoch / (1 / chosen.charsPerSecond + validationSecondsPerCharacter)
            textCharacters = min(request.textCharacters, max(0, Int((train / (1 - validationFraction)).rounded(.down))))
        }
        let sampleBlocks = cut ? spreadSample(textCharacters: request.textCharacters, keep: textCharacters) : []
        let train = Double(textCharacters) * (1 - validationFraction)
        let rows = min(batchRows, Int(train) / (sequenceLength * 4))
        let needed = Int((Double(sequenceLength * 4 + 1) / (1 - validationFraction)).rounded(.up))
        guard rows >= 1 else { throw .tooLittleText(characters: textCharacters, needed: needed) }
        let overhead = train * validationSecondsPerCharacter + chosen.cost
        let epochSeconds = train / chosen.charsPerSecond + overhead
        // Members: the budget's epochs shared out when one model would see the text too often.
        let allEpochs = epochs
        let ratio = Double(chosen.parameters) / train
        // How many members of at least memberPressure the pressure of one model would make (one below 2).
        let shares = Int(min(ratio * Double(allEpochs) / memberPressure, 1e6).rounded(.down))
        // Each member trains at least minimumEpochs.
        var members = max(1, min(maximumMembers, shares, allEpochs / minimumEpochs))
        // The ensemble's score on the held-out part, a validation pass per member, fits in
        // epochShare too; where it does not, one member fewer.
        func ensembleCost(_ members: Int) -> Double { members > 1 ? Double(members) * train * validationSecondsPerCharacter : 0 }
        while members > 1,
            startSeconds + Double(members * (allEpochs / members)) * epochSeconds + ensembleCost(members) > seconds * epochShare
        {
            members -= 1
        }
        epochs = min(maximumEpochs, allEpochs / members)
        let ensembleSeconds = ensembleCost(members)
        let predicted = startSeconds + Double(members * epochs) * epochSeconds + ensembleSeconds

        // Overfitting grows with the parameters per training character and with
        // the passes over it: their product was 14.4 for the 12-minute
        // tinyshakespeare recipe (2.4 x 6 epochs, dropout 0.25) and 90 for the
        // 60-minute one (4.1 x 22, dropout 0.35, which still overfitted). Plain
        // `--dropout`: on the 60-minute run, locked dropout 0.3 with weight drop
        // 0.1 (what the 0.1 MB ablation suggested) did worse (docs/quality.md).
        // For members, a member's epochs.
        let pressure = ratio * Double(epochs)
        let dropout = min(0.5, max(0, (0.25 + 0.04 * log2(pressure / 14.4)) * 20).rounded() / 20)
        let learningRate = chosen.width > 384 && epochs > memberEpochsAtFullRate ? 0.0015 : 0.002
        let learningRateMin = learningRate / 20

        // The reason, one paragraph.
        let size: String
        if chosen.width == widths.last! {
            size = "the widest measured here (\(chosen.width) units) meets every limit"
        } else if let next, limits(chosen).all {
            let limits = limits(next)
            var fired: [String] = []
            if !limits.data {
                fired.append(
                    "\(next.width) units (\(next.parameters) parameters) would have more than \(format("%g", parametersPerCharacter)) parameters per training character (the text is small: it would overfit)"
                )
            }
            if !limits.compute {
                fired.append(
                    "\(next.width) units would train fewer than \(format("%g", charactersPerParameter)) characters per parameter in the budget (compute-limited)"
                )
            }
            if !limits.steps {
                fired.append("\(next.width) units would take fewer than \(minimumSteps) optimizer steps")
            }
            size = "it is the widest that fits: " + fired.joined(separator: ", and ")
        } else {
            size = "it is the narrowest allowed, though it does not meet every limit (the text or the budget is very small)"
        }
        let perEpochText = format("%.1f", epochSeconds)
        var reason =
            "\(format("%.3g", request.minutes)) minutes at \(Int(request.referenceCharsPerSecond.rounded())) chars/s for the reference mLSTM 256,256 "
            + "(\(format("%.3g", rate / 1e9)) G multiply-adds/s) on \(request.textCharacters) characters (\(Int(trainCharacters)) to train on, an alphabet of \(alphabet)): "
            + "mLSTM \(chosen.width),\(chosen.width) (\(chosen.parameters) parameters, about \(Int(chosen.charsPerSecond.rounded())) chars/s), because \(size). "
        if cut {
            reason +=
                "The whole text would not fit \(minimumEpochs) passes in \(format("%g", epochShare * 100))% of the budget (\(format("%.2f", fitting)) would), so the recipe trains on \(textCharacters) of its characters, \(epochs) epochs of \(perEpochText) s: \(sampleBlocks.count - 1) blocks spread evenly over its first \(format("%g", 100 - validationFraction * 100))% to train on, and its last \(sampleBlocks.last?.count ?? 0) characters to validate on. "
        } else if members > 1 {
            reason +=
                "\(allEpochs) epochs of \(perEpochText) s fit in \(format("%g", epochShare * 100))% of the budget, \(format("%.0f", ratio * Double(allEpochs))) parameters per training character times epochs for one model, "
                + "at least \(members) x \(format("%g", memberPressure)): so \(members) models of \(epochs) epochs each (seeds 1 to \(members)), whose ensemble (the mean of their probabilities) is the result, scored on the held-out part at the end. "
        } else if epochs == maximumEpochs {
            reason +=
                "\(format("%.1f", chosen.passes)) passes would fit; the recipe stops at \(maximumEpochs) epochs of \(perEpochText) s and finishes early. "
        } else {
            reason +=
                "\(epochs) epochs of \(perEpochText) s fit in \(format("%g", epochShare * 100))% of the budget (\(format("%.2f", fitting)) would; scripts/recipe refits them to the measured time). "
        }
        reason +=
            "Dropout \(format("%g", dropout)) for \(format("%.2f", ratio)) parameters per training character over \(epochs) epochs\(members > 1 ? " a model" : "") "
            + "(0.25 for 2.4 over 6, as the 12-minute tinyshakespeare recipe; more for more of either), "
            + "cosine \(format("%g", learningRate)) -> \(format("%g", learningRateMin)), weight decay 0; "
            + "predicted \(format("%.1f", predicted / 60)) of \(format("%.3g", request.minutes)) minutes."

        return RecipePlan(
            cell: .mlstm, hiddenSizes: Array(repeating: chosen.width, count: layers), parameters: chosen.parameters,
            dropout: dropout, lockedDropout: 0, weightDrop: 0, weightDecay: 0, learningRate: learningRate,
            learningRateMin: learningRateMin, epochs: epochs, members: members,
            batchRows: rows, sequenceLength: sequenceLength, validationFraction: validationFraction, textCharacters: textCharacters,
            sampleBlocks: sampleBlocks, charsPerSecond: chosen.charsPerSecond, epochSeconds: epochSeconds, epochOverheadSeconds: overhead,
            ensembleSeconds: ensembleSeconds, predictedSeconds: predicted, reason: reason)
    }

    /// A sample of `keep` characters of a text of `textCharacters`, for a text too
    /// long to train on whole: its training part is `sampleBlockCharacters`-long
    /// blocks spread evenly over the text's first (1 - `validationFraction`), the
    /// first block at its start and the last ending where it ends, so that the
    /// model sees every part of the text (a prefix of Python's documentation
    /// is its C API and how-tos, not the tutorial at its end); its last
    /// `validationFraction` of `keep` is the text's last characters, so that the
    /// validation loss of every epoch is measured where the whole text's held-out
    /// tenth is, on characters no block trains on. Ascending, disjoint ranges of
    /// character offsets; the last one is the validation part.
    public static func spreadSample(textCharacters total: Int, keep: Int) -> [Range<Int>] {
        let keep = min(keep, total)
        let validation = Int((Double(keep) * validationFraction).rounded(.up))
        let trainKeep = keep - validation
        // The text's own held-out tail: no training block reaches into it.
        let region = total - Int((Double(total) * validationFraction).rounded(.up))
        guard trainKeep > 0, region >= trainKeep else { return [0..<keep] }
        let count = (trainKeep + sampleBlockCharacters - 1) / sampleBlockCharacters
        let gap = region - trainKeep
        var blocks: [Range<Int>] = []
        var taken = 0
        for index in 0..<count {
            let length = trainKeep / count + (index < trainKeep % count ? 1 : 0)
            // The gaps between blocks: gap x index / (count - 1) before block `index`.
            let start = taken + (count > 1 ? gap * index / (count - 1) : 0)
            blocks.append(start..<start + length)
            taken += length
        }
        blocks.append(total - validation..<total)
        return blocks
    }

    /// The plan as `key=value` lines, numbers with a '.', for scripts to read.
    public var lines: [String] {
        [
            "cell=\(cell.name)",
            "hidden=\(hiddenSizes.map(String.init).joined(separator: ","))",
            "parameters=\(parameters)",
            "dropout=\(format("%g", dropout))",
            "locked_dropout=\(format("%g", lockedDropout))",
            "weight_drop=\(format("%g", weightDrop))",
            "weight_decay=\(format("%g", weightDecay))",
            "lr=\(format("%g", learningRate))",
            "lr_min=\(format("%g", learningRateMin))",
            "epochs=\(epochs)",
            "members=\(members)",
            "batch_rows=\(batchRows)",
            "seq_length=\(sequenceLength)",
            "val_fraction=\(format("%g", validationFraction))",
            "text_characters=\(textCharacters)",
            "sample_blocks=\(sampleBlocks.map { "\($0.lowerBound)-\($0.upperBound)" }.joined(separator: ","))",
            "chars_per_second=\(Int(charsPerSecond.rounded()))",
            "epoch_seconds=\(format("%.1f", epochSeconds))",
            "epoch_overhead_seconds=\(format("%.1f", epochOverheadSeconds))",
            "ensemble_seconds=\(format("%.1f", ensembleSeconds))",
            "predicted_minutes=\(format("%.2f", predictedSeconds / 60))",
            "reason=\(reason)",
        ]
    }
}
