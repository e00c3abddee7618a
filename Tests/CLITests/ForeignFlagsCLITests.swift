// char-rnn's, torch-rnn's and nanoGPT's flags are answered with ours, in one
// line, exit 2, before anything is read or written; our own flags are not
// affected. docs/from-char-rnn.md is the same mapping for people.

import Foundation
import Testing

@Suite struct ForeignFlagsCLITests {
    @Test(arguments: [
        (
            ["charrnn-init", "--rnn-size", "128"],
            "charrnn-init: --rnn-size is char-rnn's flag; charrnn-init takes --hidden 128,128 (one size per layer)"
        ),
        (
            ["charrnn-init", "-num_layers", "3"],
            "charrnn-init: -num_layers is char-rnn's flag; charrnn-init takes one size per layer: --hidden 128,128,128"
        ),
        (
            ["charrnn-init", "--model", "gru"],
            "charrnn-init: --model is char-rnn's flag; charrnn-init takes --cell gru"
        ),
        (
            ["charrnn-epoch", "--max-epochs", "50", "e0.ckpt"],
            "charrnn-epoch: --max-epochs is char-rnn's flag; charrnn-epoch trains one epoch: loop in the shell or use scripts/train --epochs 50"
        ),
        (
            ["charrnn-epoch", "--text", "t.txt", "--seq_length", "100", "e0.ckpt"],
            "charrnn-epoch: --seq_length is char-rnn's flag; charrnn-epoch takes --seq-length 100"
        ),
        (
            ["charrnn-epoch", "--text", "t.txt", "--batch_size=32"],
            "charrnn-epoch: --batch_size is char-rnn's flag; charrnn-epoch takes --batch-rows 32"
        ),
        (
            ["charrnn-sample", "--sample", "0", "e1.ckpt"],
            "charrnn-sample: --sample is char-rnn's flag; charrnn-sample takes --temperature 0 for the most likely character at each step"
        ),
        (
            ["charrnn-sample", "--primetext", "ROMEO: ", "e1.ckpt"],
            "charrnn-sample: --primetext is char-rnn's flag; charrnn-sample takes --prime 'ROMEO: '"
        ),
        (
            ["charrnn-sample", "--max_new_tokens=200", "--num_samples=5", "e1.ckpt"],
            "charrnn-sample: --max_new_tokens is nanoGPT's flag; charrnn-sample takes --length 200"
        ),
        (
            ["charrnn-sample", "--top_k", "40", "e1.ckpt"],
            "charrnn-sample: --top_k is nanoGPT's flag; charrnn-sample takes --top-k 40"
        ),
    ])
    func aForeignFlagIsAnsweredWithOurs(command: [String], line: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try Tools.run(command[0], Array(command.dropFirst()) + ["-o", "out"], directory: directory)
        #expect(result.status == 2)
        #expect(result.stderr == line + "\n")
        #expect(result.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("out").path))
    }

    /// A Torch-style single dash on our own flag: -length reads as -l -e -n -g -t -h to the
    /// argument parser, and -h printed the help and exited 0.
    @Test func aSingleDashOnOurOwnFlagIsAnsweredNotReadAsShortFlags() throws {
        let result = try Tools.run("charrnn-sample", ["-length", "500", "e1.ckpt"])
        #expect(result.status == 2 && result.stdout.isEmpty)
        #expect(result.stderr == "charrnn-sample: -length is spelt --length here; charrnn-sample takes --length 500\n")
        let inspect = try Tools.run("charrnn-inspect", ["-json", "e1.ckpt"])  // a flag without a value
        #expect(inspect.status == 2 && inspect.stdout.isEmpty)
        #expect(inspect.stderr == "charrnn-inspect: -json is spelt --json here; charrnn-inspect takes --json\n")
        let epoch = try Tools.run("charrnn-epoch", ["-checkpoint_dir", "cv", "e0.ckpt"])
        #expect(epoch.status == 2 && epoch.stdout.isEmpty)
        #expect(
            epoch.stderr
                == "charrnn-epoch: -checkpoint_dir is char-rnn's flag; charrnn-epoch writes one checkpoint, -o FILE; scripts/train --out DIR keeps one per epoch\n"
        )
    }

    /// --seq-length is charrnn-epoch's own (its --seq_length is char-rnn's), --top-k and --seed
    /// are charrnn-sample's, --hidden and --seed charrnn-init's: the parser takes them as always.
    @Test func ourOwnFlagsAreNotAffected() throws {
        for (tool, arguments) in [
            ("charrnn-epoch", ["--check", "--text", "t.txt", "--seq-length", "100", "--batch-rows", "32"]),
            ("charrnn-sample", ["--check", "--top-k", "40", "--seed", "7", "--length", "10", "--count", "2"]),
            ("charrnn-init", ["--check", "--cell", "gru", "--hidden", "64,64", "--seed", "2"]),
        ] {
            let result = try Tools.run(tool, arguments)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(tool) \(arguments): \(result.stderr)")
        }
        // A misspelling that is nobody's flag still gets the parser's answer.
        let misspelt = try Tools.run("charrnn-epoch", ["--txt", "t.txt", "e0.ckpt"])
        #expect(misspelt.status == 2)
        #expect(misspelt.stderr == "charrnn-epoch: Unknown option '--txt'. Did you mean '--text'? (see 'charrnn-epoch --help')\n")
    }
}
