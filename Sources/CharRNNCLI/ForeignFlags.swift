// The flags of the tools people come from (char-rnn and torch-rnn in Torch,
// nanoGPT's sample.py), and what to type here instead. Without this table the
// argument parser answers `charrnn-init --rnn-size 128` with "Unknown option",
// or with a guess such as "Did you mean '--score'?", and a Torch-style single
// dash can be worse: `charrnn-sample -length 500` reads as the short flags
// -l -e -n -g -t -h, and -h prints the help and exits 0.
//
// One table, consulted by runAsTool before anything is parsed. A name fires
// only where it is not the tool's own flag (charrnn-epoch's --seq-length is
// its own; its --seq_length is char-rnn's), so no real flag is affected.
// docs/from-char-rnn.md is the same mapping written out for people.

/// A flag of another char-rnn implementation and what each charrnn tool takes instead.
struct ForeignFlag: Sendable {
    /// Spellings without dashes, underscores written as hyphens: "rnn-size" also
    /// answers -rnn_size, --rnn_size and --rnn-size.
    let names: [String]
    /// Whose flag it is, for the message: "char-rnn", "torch-rnn", "nanoGPT".
    let origin: String
    /// For each tool that answers the name: the rest of the message after "; ",
    /// given the value typed after the flag (nil when none was).
    let hints: [String: @Sendable (String?) -> String]
}

public enum ForeignFlags {
    /// The mapping, one entry per foreign flag.
    static let table: [ForeignFlag] = [
        // Training (char-rnn's and torch-rnn's train.lua).
        ForeignFlag(
            names: ["rnn-size"], origin: "char-rnn",
            hints: [
                "charrnn-init": { "charrnn-init takes --hidden \(size($0)),\(size($0)) (one size per layer)" },
                "charrnn-epoch": { "the size is chosen when the model is made: charrnn-init --hidden \(size($0)),\(size($0))" },
            ]),
        ForeignFlag(
            names: ["num-layers"], origin: "char-rnn",
            hints: [
                "charrnn-init": { "charrnn-init takes one size per layer: --hidden \(layers($0))" },
                "charrnn-epoch": { "the layers are chosen when the model is made: charrnn-init --hidden \(layers($0))" },
            ]),
        ForeignFlag(
            names: ["model", "model-type"], origin: "char-rnn",
            hints: [
                "charrnn-init": { "charrnn-init takes --cell \(cell($0))" },
                "charrnn-epoch": { _ in "charrnn-epoch trains the checkpoint given as its argument; the cell is chosen by charrnn-init --cell" },
                "charrnn-sample": { _ in "charrnn-sample reads the checkpoint given as its argument: charrnn-sample e10.ckpt" },
            ]),
        ForeignFlag(
            names: ["wordvec-size"], origin: "torch-rnn",
            hints: [
                "charrnn-init": { _ in "charrnn-init has no embedding layer: the first layer reads each character one-hot" }
            ]),
        ForeignFlag(
            names: ["dropout"], origin: "char-rnn",
            hints: [
                "charrnn-init": { "dropout is a training setting: charrnn-epoch --dropout \($0 ?? "0.25")" }
            ]),
        ForeignFlag(
            names: ["seq-length"], origin: "char-rnn",
            hints: [
                "charrnn-init": { "the sequence length is a training setting: charrnn-epoch --seq-length \($0 ?? "50")" },
                "charrnn-epoch": { "charrnn-epoch takes --seq-length \($0 ?? "50")" },
            ]),
        ForeignFlag(
            names: ["batch-size"], origin: "char-rnn",
            hints: [
                "charrnn-init": { "the batch is a training setting: charrnn-epoch --batch-rows \($0 ?? "50")" },
                "charrnn-epoch": { "charrnn-epoch takes --batch-rows \($0 ?? "50")" },
            ]),
        ForeignFlag(
            names: ["max-epochs"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { "charrnn-epoch trains one epoch: loop in the shell or use scripts/train --epochs \($0 ?? "50")" }
            ]),
        ForeignFlag(
            names: ["learning-rate"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { "charrnn-epoch takes --lr \($0 ?? "0.002")" }
            ]),
        ForeignFlag(
            names: ["learning-rate-decay", "lr-decay-factor"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { "charrnn-epoch takes each epoch's rate as --lr; scripts/train --decay \($0 ?? "0.97") decays it" }
            ]),
        ForeignFlag(
            names: ["lr-decay-every"], origin: "torch-rnn",
            hints: [
                "charrnn-epoch": {
                    "charrnn-epoch takes each epoch's rate as --lr; scripts/train --schedule step --step-every \($0 ?? "5") decays it"
                }
            ]),
        ForeignFlag(
            names: ["grad-clip"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { "charrnn-epoch takes --clip \($0 ?? "5")" }
            ]),
        ForeignFlag(
            names: ["val-frac"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { "charrnn-epoch takes --val-fraction \($0 ?? "0.05")" }
            ]),
        ForeignFlag(
            names: ["train-frac"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { _ in "charrnn-epoch trains on all but the held-out end of the text: give --val-fraction" }
            ]),
        ForeignFlag(
            names: ["eval-val-every"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { _ in "charrnn-epoch computes the validation loss once, after its epoch (--val-fraction sets the held-out part)" }
            ]),
        ForeignFlag(
            names: ["print-every"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { _ in "charrnn-epoch takes --log-every SECONDS" }
            ]),
        ForeignFlag(
            names: ["data-dir", "input-h5", "input-json"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { _ in "charrnn-epoch reads the plain text itself: --text FILE" },
                "charrnn-vocab": { _ in "charrnn-vocab reads the plain text files given as its arguments" },
            ]),
        ForeignFlag(
            names: ["checkpoint-dir", "checkpoint-name", "checkpoint-every", "savefile"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { _ in "charrnn-epoch writes one checkpoint, -o FILE; scripts/train --out DIR keeps one per epoch" }
            ]),
        ForeignFlag(
            names: ["init-from"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": {
                    "charrnn-epoch trains on from the checkpoint given as its argument: charrnn-epoch --text FILE -o next.ckpt \($0 ?? "e10.ckpt")"
                },
                "charrnn-sample": { "charrnn-sample reads the checkpoint given as its argument: charrnn-sample \($0 ?? "e10.ckpt")" },
            ]),
        ForeignFlag(
            names: ["out-dir", "checkpoint"], origin: "nanoGPT",
            hints: [
                "charrnn-sample": { _ in "charrnn-sample reads the checkpoint given as its argument: charrnn-sample e10.ckpt" }
            ]),
        ForeignFlag(
            names: ["gpuid", "gpu", "device", "opencl", "gpu-backend"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { _ in "charrnn-epoch runs on the CPU (--threads N); for a GPU, see scripts/torch/charrnn_torch.py --device cuda" },
                "charrnn-sample": { _ in "charrnn-sample runs on the CPU (--threads N)" },
            ]),
        ForeignFlag(
            names: ["seed"], origin: "char-rnn",
            hints: [
                "charrnn-epoch": { "the seed is charrnn-init's: charrnn-init --seed \($0 ?? "1") (the dropout masks follow it)" }
            ]),
        // Sampling (char-rnn's and torch-rnn's sample.lua, nanoGPT's sample.py).
        ForeignFlag(
            names: ["primetext", "start-text"], origin: "char-rnn",
            hints: [
                "charrnn-sample": { "charrnn-sample takes --prime \(quoted($0))" }
            ]),
        ForeignFlag(
            names: ["start"], origin: "nanoGPT",
            hints: [
                "charrnn-sample": { "charrnn-sample takes --prime \(quoted($0))" }
            ]),
        ForeignFlag(
            names: ["sample"], origin: "char-rnn",
            hints: [
                "charrnn-sample": { value in
                    value == "0"
                        ? "charrnn-sample takes --temperature 0 for the most likely character at each step"
                        : "charrnn-sample samples unless given --temperature 0 or --beam W; leave it out"
                }
            ]),
        ForeignFlag(
            names: ["max-new-tokens"], origin: "nanoGPT",
            hints: [
                "charrnn-sample": { "charrnn-sample takes --length \($0 ?? "500")" }
            ]),
        ForeignFlag(
            names: ["num-samples"], origin: "nanoGPT",
            hints: [
                "charrnn-sample": { "charrnn-sample takes --count \($0 ?? "10")" }
            ]),
        ForeignFlag(
            names: ["top-k"], origin: "nanoGPT",
            hints: [
                "charrnn-sample": { "charrnn-sample takes --top-k \($0 ?? "40")" }
            ]),
    ]

    /// The one-line message (without the tool's name) for the first foreign flag
    /// in `arguments`, or nil when there is none. `ownFlags` gives the tool's own
    /// long flags ("--seq-length") and whether each takes a value; it is asked only
    /// when an argument looks foreign.
    /// Also answers a Torch-style single dash on one of the tool's own flags
    /// (`-length 500`: "-length is spelt --length here; ...").
    public static func message(for arguments: [String], tool: String, ownFlags: () -> [String: Bool]) -> String? {
        var own: [String: Bool]?
        let options = arguments.prefix { $0 != "--" }
        for (index, argument) in options.enumerated() {
            guard let (spelling, name, inlineValue) = parse(argument) else { continue }
            let entry = table.first { $0.names.contains(name) && $0.hints[tool] != nil }
            // Only a name in the table, a single dash or an underscore can be foreign:
            // most command lines never ask for the tool's help text.
            guard entry != nil || !spelling.hasPrefix("--") || spelling.contains("_") else { continue }
            if own == nil { own = ownFlags() }
            guard let own, own[spelling] == nil else { continue }
            let next = index + 1 < options.count ? options[index + 1] : nil
            let value = inlineValue ?? next.flatMap { $0.hasPrefix("-") && Double($0) == nil ? nil : $0 }
            if let entry, let hint = entry.hints[tool] {
                return "\(spelling) is \(entry.origin)'s flag; \(hint(value))"
            }
            // -length, --top_k: one of our own flags spelt another way.
            if let takesValue = own["--" + name] {
                let shown = takesValue ? " " + quoted(value ?? "VALUE") : ""
                return "\(spelling) is spelt --\(name) here; \(tool) takes --\(name)\(shown)"
            }
        }
        return nil
    }

    /// The long flags of an ArgumentParser help text, each with whether it takes a
    /// value: from the first column of each option line ("  -o, --output <FILE>").
    public static func longFlags(inHelp help: String) -> [String: Bool] {
        var flags: [String: Bool] = [:]
        for line in help.split(separator: "\n") where line.hasPrefix("  -") {
            // The column ends where the description starts, after two spaces.
            var column = Substring(line.dropFirst(2))
            if let end = column.firstRange(of: "  ") { column = column[..<end.lowerBound] }
            for word in column.split(separator: " ") where word.hasPrefix("--") {
                flags[String(word.prefix { $0 != "," && $0 != "=" })] = column.contains("<")
            }
        }
        return flags
    }

    /// "-rnn_size=128" -> ("-rnn_size", "rnn-size", "128"). Nil for what cannot be a
    /// foreign flag: a single letter (-o, -q, -0), a negative number, a plain argument.
    private static func parse(_ argument: String) -> (spelling: String, name: String, value: String?)? {
        guard argument.hasPrefix("-"), Double(argument) == nil else { return nil }
        let parts = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let spelling = String(parts[0])
        let bare = spelling.drop { $0 == "-" }
        guard bare.count >= 2, spelling.count - bare.count <= 2,
            bare.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
        else { return nil }
        let name = String(bare.lowercased().map { $0 == "_" ? "-" : $0 })
        return (spelling, name, parts.count == 2 ? String(parts[1]) : nil)
    }

    private static func size(_ value: String?) -> String {
        value.flatMap { Int($0) }.map(String.init) ?? "128"
    }

    /// 3 -> "128,128,128".
    private static func layers(_ value: String?) -> String {
        let count = value.flatMap { Int($0) }.flatMap { (1...16).contains($0) ? $0 : nil } ?? 2
        return Array(repeating: "128", count: count).joined(separator: ",")
    }

    private static func cell(_ value: String?) -> String {
        guard let value, ["rnn", "lstm", "gru"].contains(value.lowercased()) else { return "lstm" }
        return value.lowercased()
    }

    /// A value as a shell would need it: 'ROMEO: ' quoted, 500 as is.
    private static func quoted(_ value: String?) -> String {
        guard let value else { return "TEXT" }
        let plain = !value.isEmpty && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._,/:-".contains($0)) }
        return plain ? value : "'" + value.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}
