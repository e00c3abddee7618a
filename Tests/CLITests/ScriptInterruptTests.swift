// scripts/train and scripts/sweep caught in the middle of an epoch: a second
// scripts/train on the same folder stops at its lock, naming the first; a
// signal to the script goes on to the tool at work, and the script ends once
// that tool has, leaving no new checkpoint or sample, and (scripts/train) no
// temporary file. Every wait is for an event: a line read from a pipe, the
// end of a pipe, a process's exit.

import CharRNN
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A script whose charrnn-epoch is caught in the middle of its epoch. The tool logs every
/// batch (`--log-every 1e-9`) into a pipe that the test reads only when it chooses: once the
/// test has read the first progress line, the epoch cannot end before the test reads again,
/// since the lines still to come do not fit in the pipe (TrainingRun's argument).
struct ScriptInEpoch {
    let process = Process()
    let directory: URL
    /// What the test has read from the pipe so far.
    private(set) var printed = Data()
    /// The next bytes from the pipe, nil at its end (when every writer has closed it).
    private let readMore: () -> Data?
    /// The pipe's capacity in bytes.
    private let capacity: Int

    static let seqLength = 10, batchRows = 4
    /// scripts/train's arguments, with `options` of its own: one epoch of an LSTM 16 in run/,
    /// a progress line per batch.
    static func trainArguments(_ options: [String] = []) -> [String] {
        [
            "--text", "text.txt", "--out", "run", "--epochs", "1", "--hidden", "16", "--sample-length", "5",
            "--seq-length", "\(seqLength)", "--batch-rows", "\(batchRows)",
        ] + options + ["--", "--log-every", "1e-9"]
    }

    /// Writes text.txt in `directory`, long enough to outlast a pipe of `capacity` bytes.
    static func writeText(in directory: URL, capacity: Int) throws {
        // One line per batch of seqLength characters of each of batchRows rows, 5% held out:
        // this many characters give lines for more than twice the pipe, whatever is read at once.
        let batches = 2 * (2 * capacity) / TrainingRun.shortestLine + 1
        let line = String(decoding: EpochCLITests.text, as: UTF8.self)
        let characters = batches * seqLength * batchRows * 21 / 20 + line.count
        try Data(String(repeating: line, count: characters / line.count + 1).utf8).write(to: directory.appendingPathComponent("text.txt"))
    }

    /// scripts/train with its standard error on a pipe of 4096 bytes.
    static func train(in directory: URL, locale: ScriptLocale) throws -> ScriptInEpoch {
        let pipe = Pipe()
        let reader = pipe.fileHandleForReading.fileDescriptor
        _ = fcntl(reader, TrainingRun.F_SETPIPE_SZ, 4096)
        let capacity = Int(fcntl(reader, TrainingRun.F_GETPIPE_SZ))
        try writeText(in: directory, capacity: capacity)
        var run = ScriptInEpoch(directory: directory, capacity: capacity) {
            let chunk = pipe.fileHandleForReading.availableData  // blocks until the script's tools write or all end
            return chunk.isEmpty ? nil : chunk
        }
        run.process.executableURL = URL(fileURLWithPath: "/bin/sh")
        run.process.arguments = [Tools.repository.appendingPathComponent("scripts/train").path] + trainArguments()
        run.process.currentDirectoryURL = directory
        run.process.environment = locale.environment
        run.process.standardInput = FileHandle.nullDevice
        run.process.standardOutput = FileHandle.nullDevice
        run.process.standardError = pipe
        try run.process.run()
        try pipe.fileHandleForWriting.close()  // the script and its tools hold the only writing ends
        return run
    }

    /// scripts/sweep over one point, whose train.log is a FIFO of 4096 bytes that the test
    /// reads: the point's scripts/train writes its standard error, and its tools', there. The
    /// sweep runs its points --quiet, so its charrnn-epoch is a wrapper that leaves that out.
    static func sweep(in directory: URL, locale: ScriptLocale) throws -> ScriptInEpoch {
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        for tool in ["charrnn-vocab", "charrnn-init", "charrnn-sample", "charrnn-inspect"] {
            try FileManager.default.createSymbolicLink(
                at: bin.appendingPathComponent(tool),
                withDestinationURL: Tools.binaries.appendingPathComponent(tool))
        }
        let wrapper = bin.appendingPathComponent("charrnn-epoch")
        try Data(
            """
            #!/bin/sh
            # charrnn-epoch without --quiet, so that it logs every batch into train.log.
            for argument; do shift; [ "$argument" = --quiet ] || set -- "$@" "$argument"; done
            exec '\(Tools.binaries.appendingPathComponent("charrnn-epoch").path)' "$@"

            """.utf8
        ).write(to: wrapper)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: wrapper.path)

        let point = directory.appendingPathComponent("sw/runs/hidden-16")
        try FileManager.default.createDirectory(at: point, withIntermediateDirectories: true)
        let fifo = point.appendingPathComponent("train.log").path
        #expect(mkfifo(fifo, 0o600) == 0)
        // Opened without waiting, before the sweep starts, so that a writer that comes and
        // goes is always seen: poll wakes on data, and on the last writer's close.
        let reader = open(fifo, O_RDONLY | O_NONBLOCK)
        _ = fcntl(reader, TrainingRun.F_SETPIPE_SZ, 4096)
        let capacity = Int(fcntl(reader, TrainingRun.F_GETPIPE_SZ))
        try writeText(in: directory, capacity: capacity)
        var run = ScriptInEpoch(directory: directory, capacity: capacity) {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                var event = pollfd(fd: reader, events: Int16(POLLIN), revents: 0)
                _ = poll(&event, 1, -1)
                let count = read(reader, &buffer, buffer.count)
                if count > 0 { return Data(buffer[0..<count]) }
                if count == 0 { return nil }
                if errno != EAGAIN && errno != EINTR { return nil }
            }
        }
        let err = directory.appendingPathComponent(".sweep-stderr")
        FileManager.default.createFile(atPath: err.path, contents: nil)
        run.process.executableURL = URL(fileURLWithPath: "/bin/sh")
        run.process.arguments = [
            Tools.repository.appendingPathComponent("scripts/sweep").path, "--text", "text.txt", "--epochs", "1",
            "--out", "sw", "--jobs", "1", "--grid", "hidden=16", "--",
            "--seq-length", "\(seqLength)", "--batch-rows", "\(batchRows)", "--log-every", "1e-9",
        ]
        run.process.currentDirectoryURL = directory
        run.process.environment = locale.environment.merging(["CHARRNN_BIN": bin.path]) { $1 }
        run.process.standardInput = FileHandle.nullDevice
        run.process.standardOutput = FileHandle.nullDevice
        run.process.standardError = try FileHandle(forWritingTo: err)
        // A sweep that ends before its point opens the FIFO still ends the test's wait: a writer comes and goes.
        run.process.terminationHandler = { _ in
            let writer = open(fifo, O_WRONLY | O_NONBLOCK)
            if writer >= 0 { close(writer) }
        }
        try run.process.run()
        return run
    }

    private init(directory: URL, capacity: Int, readMore: @escaping () -> Data?) {
        self.directory = directory
        self.capacity = capacity
        self.readMore = readMore
    }

    /// Returns once the first progress line of charrnn-epoch has been read.
    mutating func waitForTheFirstBatch(sourceLocation: SourceLocation = #_sourceLocation) {
        var batches: Int?
        while batches == nil, let chunk = readMore() {
            printed += chunk
            batches = String(decoding: printed, as: UTF8.self).firstMatch(of: #/ batch [0-9]+/([0-9]+) /#).flatMap { Int($0.1) }
        }
        #expect(batches != nil, "no progress line: \(String(decoding: printed, as: UTF8.self))", sourceLocation: sourceLocation)
        // The epoch's progress lines, at least shortestLine bytes each, cannot all have been written yet.
        #expect(
            (batches ?? 0) * TrainingRun.shortestLine > printed.count + capacity,
            "\(batches ?? 0) batches could fit in the \(capacity)-byte pipe after the \(printed.count) bytes read", sourceLocation: sourceLocation)
    }

    /// Sends `signal` to the script, then reads the pipe to its end (every tool that held it
    /// has ended) and waits for the script; returns all that was read.
    mutating func stop(with signal: Int32) -> String {
        kill(process.processIdentifier, signal)
        while let chunk = readMore() { printed += chunk }
        process.waitUntilExit()
        return String(decoding: printed, as: UTF8.self)
    }

    /// Reads the pipe to its end and waits for the script, which goes on undisturbed.
    mutating func finish() -> String {
        while let chunk = readMore() { printed += chunk }
        process.waitUntilExit()
        return String(decoding: printed, as: UTF8.self)
    }
}

@Suite struct ScriptInterruptTests {
    /// Every file in `directory`, hidden ones too.
    static func allFiles(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// A second scripts/train on a folder in use stops before it reads or writes anything there,
    /// naming the pid of the first, whatever settings it was given; the first goes on untouched,
    /// and once it has ended the folder is free.
    @Test(arguments: ScriptLocale.allCases)
    func aSecondTrainOnTheSameFolderStopsAtTheLock(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var first = try ScriptInEpoch.train(in: directory, locale: locale)
        first.waitForTheFirstBatch()
        let run = directory.appendingPathComponent("run")
        let conf = try Data(contentsOf: run.appendingPathComponent("run.conf"))
        let before = try Self.allFiles(run)
        for other in [[], ["--lr", "0.1"], ["--dropout", "0.5", "--epochs", "2"]] {
            let second = try ScriptTests.script("train", ScriptInEpoch.trainArguments(other), in: directory, locale: locale)
            #expect(second.status == 1, "\(other): \(second.stderr)")
            #expect(
                second.stderr == "train: run: the run folder is in use by pid \(first.process.processIdentifier), another train; "
                    + "wait for it to end, or give another --out\n", "\(other)")
        }
        #expect(try Data(contentsOf: run.appendingPathComponent("run.conf")) == conf, "run.conf was rewritten")
        #expect(try Self.allFiles(run) == before)

        let printed = first.finish()
        #expect(first.process.terminationStatus == 0, "\(printed)")
        #expect(try Self.allFiles(run) == [".lock", "e000.ckpt", "e001.ckpt", "e001.sample.txt", "loss.svg", "run.conf", "vocab.ckpt"])
        let again = try ScriptTests.script("train", ScriptInEpoch.trainArguments(["--epochs", "2"]), in: directory, locale: locale)
        #expect(again.status == 0 && again.stderr.contains("train: resuming run after epoch 1"), "\(again.stderr)")
    }

    /// INT, TERM or HUP to scripts/train in the middle of an epoch: charrnn-epoch gets TERM from
    /// it, finishes its sequence and keeps the partial epoch in e001.part.ckpt; the script ends
    /// once the tool has (the pipe's end proves that no tool is left), dies of the signal it got,
    /// and leaves no complete-looking checkpoint or temporary file. A rerun continues the epoch.
    @Test(arguments: [SIGTERM, SIGINT, SIGHUP])
    func aSignalToTrainGoesOnToTheEpochAndLeavesNothingHalfWritten(signal: Int32) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var training = try ScriptInEpoch.train(in: directory, locale: .inherited)
        training.waitForTheFirstBatch()
        let printed = training.stop(with: signal)
        #expect(
            training.process.terminationReason == .uncaughtSignal && training.process.terminationStatus == signal,
            "status \(training.process.terminationStatus), \(training.process.terminationReason == .uncaughtSignal ? "killed" : "exited")")
        #expect(printed.contains("charrnn-epoch: epoch 1 stopped by SIGTERM after "), "\(printed.suffix(300))")
        #expect(!printed.contains("epoch 1: lr"), "the epoch ran to its end")
        let run = directory.appendingPathComponent("run")
        #expect(try Self.allFiles(run) == [".lock", "e000.ckpt", "e001.part.ckpt", "run.conf", "vocab.ckpt"])

        let rerun = try ScriptTests.script("train", ScriptInEpoch.trainArguments(), in: directory)
        #expect(rerun.status == 0, "\(rerun.stderr.suffix(300))")
        #expect(rerun.stderr.contains("train: continuing the partial epoch 1 in run/e001.part.ckpt"), "\(rerun.stderr.suffix(300))")
        #expect(try Self.allFiles(run) == [".lock", "e000.ckpt", "e001.ckpt", "e001.sample.txt", "loss.svg", "run.conf", "vocab.ckpt"])
    }

    /// TERM to scripts/sweep in the middle of a point's epoch: GNU parallel passes TERM to the
    /// point's scripts/train, which passes it to its charrnn-epoch; the sweep ends once they
    /// have, by the signal, and the point has no new checkpoint or sample, nor a leaderboard.
    @Test(
        .enabled(if: ScriptTests.gnuParallel, "GNU parallel is not installed (scripts/install-deps installs Debian's parallel)"),
        arguments: ScriptLocale.allCases)
    func aSignalToSweepGoesOnToThePointsAtWork(locale: ScriptLocale) throws {
        try locale.skipUnlessAvailable()
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var sweep = try ScriptInEpoch.sweep(in: directory, locale: locale)
        sweep.waitForTheFirstBatch()
        let printed = sweep.stop(with: SIGTERM)
        #expect(
            sweep.process.terminationReason == .uncaughtSignal && sweep.process.terminationStatus == SIGTERM,
            "status \(sweep.process.terminationStatus)")
        #expect(printed.contains("charrnn-epoch: epoch 1 stopped by SIGTERM after "), "\(printed.suffix(300))")
        let point = directory.appendingPathComponent("sw/runs/hidden-16")
        // Only hidden temporary files may be left, should GNU parallel have had to kill a point;
        // the partial epoch is kept for a rerun.
        #expect(try Self.allFiles(point).filter { !$0.hasPrefix(".") } == ["e000.ckpt", "e001.part.ckpt", "run.conf", "train.log", "vocab.ckpt"])
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("sw/leaderboard.tsv").path))
    }
}
