// charrnn-sample's modes beyond one sample: several samples as one batch
// (--count), beam search (--beam), and the per-character table and the HTML
// page of --score (--per-char, --html, --unit). The logic lives in the
// library (SampleBatch, BeamSearch, TextAnalysis, SurprisalPage); this file
// checks the flags and writes what the library returns.

import ArgumentParser
import CharRNN
import CharRNNCLI

/// `--unit L:J`: unit J of layer L, both counted from 1.
struct UnitChoice: ExpressibleByArgument {
    let layer: Int
    let unit: Int

    init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let layer = Int(parts[0]), let unit = Int(parts[1]), layer >= 1, unit >= 1 else { return nil }
        self.layer = layer
        self.unit = unit
    }
}

extension Sample {
    /// Beam widths and the symbols a search keeps (width x length) are bounded so that
    /// a typo cannot ask for gigabytes.
    static let maxBeam = 256
    static let maxBeamSymbols = 1 << 26
    /// --count K keeps the samples of a round but its first (at most 63) until the round
    /// ends, two bytes a symbol: at most this many symbols (512 MB).
    static let maxKeptSymbols = 1 << 28

    func validateAnalysis() throws {
        if let topK, topK < 1 { throw ValidationError("--top-k must be >= 1, not \(topK)") }
        if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1], not \(topP)") }
        if topK != nil || topP != nil {
            if temperature == 0 { throw ValidationError("--top-k and --top-p do nothing with --temperature 0 (argmax)") }
        }
        if let beam {
            guard (1...Self.maxBeam).contains(beam) else { throw ValidationError("--beam must be 1 to \(Self.maxBeam), not \(beam)") }
            if topK != nil || topP != nil || temperature != 1 {
                throw ValidationError("--beam does not sample: --temperature, --top-k and --top-p do not apply")
            }
            if count > beam { throw ValidationError("--count \(count) is more than the --beam \(beam) continuations a search finds") }
            if beam * max(length, 1) > Self.maxBeamSymbols {
                throw ValidationError("--beam \(beam) with --length \(length) is too large (at most \(Self.maxBeamSymbols) symbols in all)")
            }
        }
        if beam == nil, count > 1, (min(count, SampleBatch.maxStreams) - 1) * length > Self.maxKeptSymbols {
            throw ValidationError(
                "--count \(count) with --length \(length) would keep more than \(Self.maxKeptSymbols) symbols "
                    + "in memory; run several smaller --count")
        }
        if score == nil {
            if perChar { throw ValidationError("--per-char needs --score FILE") }
            if html { throw ValidationError("--html needs --score FILE") }
        } else {
            if perChar && html { throw ValidationError("--per-char and --html are two outputs; choose one") }
            if topK != nil || topP != nil || beam != nil {
                throw ValidationError("--top-k, --top-p and --beam are for generating text, not --score")
            }
        }
        if unit != nil && !html { throw ValidationError("--unit needs --score FILE --html") }
    }

    /// --count K (K > 1): the K samples as one batch.
    func sampleBatch(
        models: [Model], alphabet: Alphabet, prime: [Int], seed: UInt64, rule: SamplingRule,
        to target: OutputTarget
    ) throws {
        let batch = SampleBatch(
            models: models, alphabet: alphabet, seed: seed, rule: rule, count: count,
            threads: threads == 0 ? nil : threads)
        let out = try textOutput(target, flush: unbuffered ? .perSymbol : .perLine)
        let stop = alphabet.stopIndex, symbols = alphabet.symbols
        let start = monotonicSeconds()
        var generated = 0
        do {
            try batch.run(
                length: length, prime: prime, stopAtStop: stopAtStop,
                begin: { sample in
                    if sample > 0 {
                        if null { try out.write(byte: 0) } else { try out.write("\n\n") }
                    }
                    if !noPrimeEcho { for symbol in prime where symbol != stop { try out.write(scalar: symbols[symbol]) } }
                },
                emit: { symbol in
                    try out.write(scalar: symbols[symbol])
                    generated += 1
                })
            if !null { try out.write(byte: 0x0A) }
            try out.flush()
        } catch is TextOutput.ReaderGone {
            return
        }
        try target.commit()
        if verbose {
            let seconds = monotonicSeconds() - start
            printError(
                "charrnn-sample: \(count) samples, \(generated) symbols in \(format("%.3f", seconds)) s, "
                    + "\(grouped(Int(Double(generated) / max(seconds, 1e-9)))) symbols/s")
        }
    }

    /// --beam W: the best continuations, best first, separated as samples are.
    func beamSearch(width: Int, models: [Model], alphabet: Alphabet, prime: [Int], seed: UInt64, to target: OutputTarget) throws {
        let beams = try BeamSearch.run(
            models: models, alphabet: alphabet, width: width, prime: prime, seed: seed, length: length,
            stopAtStop: stopAtStop, threads: threads == 0 ? nil : threads)
        let out = try textOutput(target, flush: .perLine)
        let stop = alphabet.stopIndex, symbols = alphabet.symbols
        do {
            for (index, beam) in beams.prefix(count).enumerated() {
                if index > 0 {
                    if null { try out.write(byte: 0) } else { try out.write("\n\n") }
                }
                if !noPrimeEcho { for symbol in prime where symbol != stop { try out.write(scalar: symbols[symbol]) } }
                for symbol in beam.printed { try out.write(scalar: symbols[symbol]) }
            }
            if !null { try out.write(byte: 0x0A) }
            try out.flush()
        } catch is TextOutput.ReaderGone {
            return
        }
        try target.commit()
        if verbose {
            for (index, beam) in beams.prefix(count).enumerated() {
                printError(
                    "charrnn-sample: beam \(index + 1): \(beam.chosen.count) symbols, log-probability "
                        + "\(format("%.4f", beam.logProbability)) nats (\(format("%.4f", beam.logProbability * Units.bitsPerNat)) bits)")
            }
        }
    }

    /// --score FILE with --per-char or --html.
    func analyseText(_ path: String, models: [Model], alphabet: Alphabet, checkpointName: String, to target: OutputTarget) throws {
        var chosenUnit: (layer: Int, index: Int)? = nil
        if let unit {
            // One model (validate() refuses --unit for an ensemble).
            let sizes = models[0].config.hiddenSizes
            guard unit.layer <= sizes.count else {
                throw ToolError(
                    "--unit \(unit.layer):\(unit.unit): the model has \(sizes.count) layer\(sizes.count == 1 ? "" : "s")",
                    exitCode: 2)
            }
            guard unit.unit <= sizes[unit.layer - 1] else {
                throw ToolError(
                    "--unit \(unit.layer):\(unit.unit): layer \(unit.layer) has \(sizes[unit.layer - 1]) units",
                    exitCode: 2)
            }
            chosenUnit = (unit.layer - 1, unit.unit - 1)
        }
        let file = try InputFile(path: path)
        defer { file.close() }
        // Streamed: each character's row or span is written as it is read, so the memory
        // is the network's whatever the text's length (a pipe or device included).
        let analyser = TextAnalyser(models: models, alphabet: alphabet, threads: threads == 0 ? nil : threads, unit: chosenUnit)
        let out = try textOutput(target, flush: .perLine)
        var pending = ""
        // Nothing goes out before the first prediction (a text too short to score writes
        // nothing), unless what waits grows past 1 MiB (a long run of skipped characters).
        var started = false
        func emit(_ text: String) throws {
            pending += text
            if (started && pending.utf8.count >= 1 << 16) || pending.utf8.count >= 1 << 20 {
                try out.write(pending)
                pending = ""
            }
        }
        if html {
            let shapes = models.map { model in
                "\(model.config.cell) \(model.config.hiddenSizes.map(String.init).joined(separator: ",")) "
                    + "(\(grouped(model.layout.parameterCount)) parameters)"
            }
            let description =
                (models.count > 1 ? "an ensemble of \(shapes.joined(separator: ", "))" : shapes[0])
                + " from \(SystemPath.shown(checkpointName))"
            pending = SurprisalPage.head(title: "\(SystemPath.shown(file.name)): the model's surprise", model: description, unit: chosenUnit)
        }
        var skipped: [UInt32: Int] = [:], skippedOrder: [UInt32] = []
        var place = TextPlace()
        do {
            _ = try file.decodeText { scalar, _ in
                let (line, column) = place.advance(over: scalar)
                let character = try analyser.read(scalar)
                if character.symbol == nil {
                    if skipped[scalar] == nil { skippedOrder.append(scalar) }
                    skipped[scalar, default: 0] += 1
                }
                if character.prediction != nil, !started {
                    started = true
                    if !html { pending += TextAnalysis.tableHeader }
                }
                if html {
                    try emit(SurprisalPage.span(character, alphabet: alphabet, unit: chosenUnit))
                } else if let prediction = character.prediction {
                    try emit(
                        TextAnalysis.tableRow(
                            position: character.offset, line: line, column: column, scalar: scalar,
                            prediction: prediction, alphabet: alphabet))
                }
            }
        } catch is TextOutput.ReaderGone {
            return
        }
        if !skippedOrder.isEmpty, !quiet {
            let total = skipped.values.reduce(0, +)
            let list = skippedOrder.prefix(10).map { "\(Alphabet.codePoint($0)) '\(Alphabet.escaped($0))' x\(skipped[$0]!)" }
            printError(
                "charrnn-sample: \(file.name): skipped \(total) character\(total == 1 ? "" : "s") the alphabet lacks: "
                    + list.joined(separator: ", ") + (skippedOrder.count > 10 ? ", ..." : ""))
        }
        let result = analyser.score
        guard result.predicted >= 1 else {
            throw ToolError("\(file.name): needs at least 2 characters the alphabet has to score")
        }
        let summary =
            "\(file.name): \(result.predicted) characters predicted, \(format("%.4f", result.natsPerCharacter)) nats/char "
            + "(\(format("%.4f", result.bitsPerCharacter)) bits/char), total \(format("%.1f", result.totalNats)) nats "
            + "(\(format("%.1f", result.totalBits)) bits), perplexity \(format("%.3f", result.perplexity))"
        do {
            if html { pending += SurprisalPage.tail(result) }
            try out.write(pending)
            try out.flush()
        } catch is TextOutput.ReaderGone {
            return
        }
        try target.commit()
        printError("charrnn-sample: \(summary)")
    }
}
