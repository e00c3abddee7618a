// Faults while writing: a tool killed at any moment (SIGKILL, SIGTERM, SIGINT),
// a checkpoint stream cut short, a closed pipe, a full disk, a file-size limit.
// What is promised (see Sources/CharRNN/Support/FileIO.swift and Tool.swift):
//   - `-o FILE` is either the old file or the complete new one, whatever kills
//     the tool. SIGKILL may leave the hidden temporary `.FILE.tmp.PID` beside
//     it (nothing can remove it); SIGINT/SIGTERM remove it, print
//     "<tool>: interrupted by SIGINT; nothing written" and die of that signal
//     (shell status 130 / 143).
//   - A checkpoint cut anywhere is refused by every reader as truncated.
//   - A closed pipe, a full disk or RLIMIT_FSIZE is a one-line error naming the
//     file, exit 1.

import CharRNN
import Foundation
import Testing

@Suite struct FaultTests {
    /// About 2 KB: a debug-build epoch of LSTM 16 on it takes about 0.3 s, so a
    /// random kill lands anywhere in it, the write and rename included.
    static let text = Data(String(repeating: String(decoding: EpochCLITests.text, as: UTF8.self), count: 2).utf8)

    /// text.txt, v.ckpt and e0.ckpt (LSTM 16) in `directory`.
    static func prepare(_ directory: URL, hidden: String = "16") throws {
        try text.write(to: directory.appendingPathComponent("text.txt"))
        try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "v.ckpt"], directory: directory)
        try Tools.run("charrnn-init", ["-q", "--hidden", hidden, "-o", "e0.ckpt", "v.ckpt"], directory: directory)
    }

    static let epochArguments = ["--text", "text.txt", "--lr", "0.002", "--reproducible", "-q", "-o", "e1.ckpt", "e0.ckpt"]

    /// Starts a tool without waiting for it; stderr goes to a file beside `directory`.
    static func start(
        _ tool: String, _ arguments: [String], directory: URL, errors: URL,
        stdout: Any? = nil
    ) throws -> Process {
        let process = Process()
        process.executableURL = Tools.binaries.appendingPathComponent(tool)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.standardOutput = stdout ?? FileHandle.nullDevice
        try process.run()
        return process
    }

    static func names(_ directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
    }

    /// Temporary files an interrupted `-o e1.ckpt` may leave: hidden, never the output's name.
    static func isTemporary(_ name: String, of output: String) -> Bool {
        name.range(of: #"^\.\#(output)\.tmp\.[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) != nil
    }

    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    // MARK: - Killed while writing -o

    @Test func sigkillAtAnyMomentLeavesTheOldFileOrTheCompleteNewOne() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let e1 = directory.appendingPathComponent("e1.ckpt")
        // The uninterrupted result, and how long it takes.
        let runtime = try Self.seconds { try Tools.run("charrnn-epoch", Self.epochArguments, directory: directory) }
        let complete = try Data(contentsOf: e1)
        #expect(try Checkpoint(decoding: [UInt8](complete)).history.count == 1)
        let old = try Data(contentsOf: directory.appendingPathComponent("e0.ckpt"))
        try old.write(to: e1)
        var random = Xoshiro256(seed: 2024)
        var outcomes: [String: Int] = [:]
        for iteration in 0..<18 {
            // Spans the whole run and a little beyond: loading, training, writing, renaming, exiting.
            let delay = runtime * 1.1 * Double(random.nextIndex(below: 1000)) / 1000
            let process = try Self.start(
                "charrnn-epoch", Self.epochArguments, directory: directory,
                errors: directory.appendingPathComponent("err.txt"))
            usleep(UInt32(delay * 1e6))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let now = try Data(contentsOf: e1)
            let leftovers = try Self.names(directory).filter { !["text.txt", "v.ckpt", "e0.ckpt", "e1.ckpt", "err.txt"].contains($0) }
            #expect(leftovers.allSatisfy { Self.isTemporary($0, of: "e1.ckpt") }, "iteration \(iteration): \(leftovers)")
            #expect(now == old || now == complete, "iteration \(iteration), killed after \(delay) s: e1.ckpt is \(now.count) bytes")
            if now == complete {
                let inspect = try Tools.run("charrnn-inspect", ["e1.ckpt"], directory: directory)
                #expect(inspect.status == 0, "\(inspect.stderr)")
                try old.write(to: e1)  // the next run overwrites the old file again
            }
            let outcome =
                process.terminationReason == .exit
                ? "finished"
                : now == complete
                    ? "killed after the rename"
                    : leftovers.isEmpty ? "killed before writing" : "killed while writing (temporary file left)"
            outcomes[outcome, default: 0] += 1
            for name in leftovers { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        }
        print("SIGKILL loop, epoch \(String(format: "%.2f", runtime)) s: \(outcomes.sorted { $0.key < $1.key })")
    }

    /// The write itself is a few milliseconds of an epoch, so random kills rarely
    /// land in it. Here the kill waits for the temporary file to appear (its
    /// name holds the writer's pid; inotify reports its creation, however long
    /// the tool takes to get there) and then comes at a random moment of the
    /// write, fsync or rename of a 12 MB checkpoint.
    @Test func sigkillDuringTheWriteItselfLeavesTheOldFileOrTheCompleteNewOne() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let arguments = ["-q", "--hidden", "512,512", "--seed", "1", "-o", "big.ckpt", "v.ckpt"]
        try Tools.run("charrnn-init", arguments, directory: directory)
        let big = directory.appendingPathComponent("big.ckpt")
        let complete = try Data(contentsOf: big)
        try Tools.run("charrnn-init", ["-q", "--hidden", "512,512", "--seed", "2", "-o", "big.ckpt", "v.ckpt"], directory: directory)
        let old = try Data(contentsOf: big)
        #expect(old != complete && old.count > 10_000_000)
        var random = Xoshiro256(seed: 7)
        var whileWriting = 0, attempts = 0
        while whileWriting < 4 && attempts < 40 {
            attempts += 1
            let watch = CreationWatch(directory)
            #expect(watch.descriptor >= 0, "inotify_init1: \(String(cString: strerror(errno)))")
            let process = try Self.start(
                "charrnn-init", arguments, directory: directory,
                errors: directory.appendingPathComponent("err.txt"))
            let appeared = watch.wait(for: ".big.ckpt.tmp.\(process.processIdentifier)", unlessEnded: process)
            if appeared { usleep(UInt32(random.nextIndex(below: 30_000))) }  // 0-30 ms into the write
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let now = try Data(contentsOf: big)
            #expect(now == old || now == complete, "attempt \(attempts): big.ckpt is \(now.count) bytes")
            let leftovers = try Self.names(directory).filter { $0.hasPrefix(".") }
            #expect(leftovers.allSatisfy { Self.isTemporary($0, of: "big.ckpt") }, "\(leftovers)")
            if appeared && process.terminationReason == .uncaughtSignal { whileWriting += 1 }
            for name in leftovers { try FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
            if now == complete { try old.write(to: big) }
        }
        #expect(whileWriting >= 1, "no kill landed while the temporary file existed in \(attempts) attempts")
        print("SIGKILL during the write: \(whileWriting) of \(attempts) kills landed after the temporary file appeared")
    }

    @Test(arguments: [SIGINT, SIGTERM])
    func sigintAndSigtermStopPromptlyWithAMessageAndNoTemporaryFile(signal: Int32) throws {
        let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
        // Promptly: sent once training has started (its first progress line has been read), the
        // signal ends the tool before its epoch ends, and the epoch cannot end before the test reads
        // the tool's stderr again (see TrainingRun): a tool that finished the epoch, or a batch too
        // many, before dying would print its summary line.
        let training = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: training) }
        var run = try TrainingRun(in: training)
        try run.start()
        let printed = run.stop(with: signal)
        #expect(run.process.terminationReason == .uncaughtSignal && run.process.terminationStatus == signal)
        // With -o, the first signal keeps the partial epoch (docs/partial-epochs.md).
        #expect(printed.contains("\ncharrnn-epoch: epoch 1 stopped by \(name) after "), "\(printed.suffix(300))")
        #expect(!printed.contains("charrnn-epoch: epoch 1:"), "\(name) during training: the epoch ran to its end: \(printed.suffix(300))")
        #expect(try Self.names(training) == ["e0.ckpt", "e1.ckpt", "text.txt", "v.ckpt"], "the partial epoch, no temporary file")
        #expect(try Checkpoint(decoding: [UInt8](Data(contentsOf: training.appendingPathComponent("e1.ckpt")))).partial != nil)

        // At moments spread over a whole run: loading, training, writing, renaming.
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let e1 = directory.appendingPathComponent("e1.ckpt")
        let runtime = try Self.seconds { try Tools.run("charrnn-epoch", Self.epochArguments, directory: directory) }
        let complete = try Data(contentsOf: e1)
        let old = try Data(contentsOf: directory.appendingPathComponent("e0.ckpt"))
        for fraction in [0.3, 0.6, 0.9] {
            try old.write(to: e1)
            let errors = directory.appendingPathComponent("err.txt")
            let process = try Self.start("charrnn-epoch", Self.epochArguments, directory: directory, errors: errors)
            usleep(UInt32(runtime * fraction * 1e6))  // a deliberate delay: where the signal lands
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            let stderr = try String(decoding: Data(contentsOf: errors), as: UTF8.self)
            #expect(try Self.names(directory) == ["e0.ckpt", "e1.ckpt", "err.txt", "text.txt", "v.ckpt"], "no temporary file left")
            if process.terminationReason == .exit {
                // The run ended before the signal came.
                #expect(process.terminationStatus == 0 && stderr.isEmpty)
                #expect(try Data(contentsOf: e1) == complete)
                continue
            }
            #expect(process.terminationStatus == signal, "dies of the signal: shell status \(128 + signal)")
            let now = try Data(contentsOf: e1)
            if stderr.contains("finishing this sequence") {
                // During training: the partial epoch written, or, after the last sequence, the whole one.
                if stderr.contains("the whole epoch is written") {
                    #expect(now == complete)
                } else {
                    #expect(stderr.contains("\ncharrnn-epoch: epoch 1 stopped by \(name) after "), "\(stderr)")
                    #expect(try Checkpoint(decoding: [UInt8](now)).partial != nil)
                }
                continue
            }
            #expect(
                stderr == "charrnn-epoch: interrupted by \(name); nothing written\n"
                    || stderr == "charrnn-epoch: interrupted by \(name)\n", "\(stderr)")
            #expect(
                now == old || (now == complete && !stderr.contains("nothing written")),
                "\(name) at \(fraction): e1.ckpt is \(now.count) bytes (old \(old.count), new \(complete.count)); \(stderr)")
        }
    }

    // MARK: - A checkpoint stream cut short

    /// Every reader refuses `bytes` as truncated, in one line naming the file.
    static func expectRefusedAsTruncated(
        _ bytes: Data, in directory: URL, tools: [String], label: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        try bytes.write(to: directory.appendingPathComponent("cut.ckpt"))
        for tool in tools {
            let arguments = tool == "charrnn-epoch" ? ["--text", "text.txt", "cut.ckpt"] : ["cut.ckpt"]
            let result = try Tools.run(tool, arguments, directory: directory)
            #expect(result.status == 1 && !result.signalled, "\(tool) \(label)", sourceLocation: sourceLocation)
            result.expectOneLineError(tool, containing: "cut.ckpt: ", sourceLocation: sourceLocation)
            #expect(
                result.stderr.contains(bytes.isEmpty ? "empty" : "truncated"), "\(tool) \(label): \(result.stderr)",
                sourceLocation: sourceLocation)
            #expect(result.stdout.isEmpty, sourceLocation: sourceLocation)
        }
    }

    @Test func aCheckpointCutAtAnyByteIsRefusedAsTruncated() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let full = try Tools.run("charrnn-epoch", ["--text", "text.txt", "-q", "--reproducible", "e0.ckpt"], directory: directory).stdout
        #expect(try Checkpoint(decoding: [UInt8](full)).history.count == 1)
        // Every N-th offset, and the edges: inside the file header, the END section, one byte short.
        let step = full.count / 23
        let offsets = Array(stride(from: 0, to: full.count, by: step)) + [1, 7, 8, 47, full.count - 40, full.count - 39, full.count - 1]
        for (index, offset) in offsets.enumerated() {
            // charrnn-inspect at every offset, the other readers at every third.
            let tools = index % 3 == 0 ? ["charrnn-inspect", "charrnn-sample", "charrnn-epoch"] : ["charrnn-inspect"]
            try Self.expectRefusedAsTruncated(full.prefix(offset), in: directory, tools: tools, label: "cut at byte \(offset) of \(full.count)")
        }
    }

    @Test func aStreamCutByHeadIsRefused() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let epoch = Tools.binaries.appendingPathComponent("charrnn-epoch").path
        let script = "\(epoch) --text text.txt -q --reproducible e0.ckpt | head -c 1000 > cut.ckpt; echo ${PIPESTATUS[0]}"
        let shell = try Tools.run("/bin/bash", ["-c", script], directory: directory)
        // The ~67 KB checkpoint does not fit in the pipe once head has gone: the write fails.
        #expect(shell.text == "1\n" || shell.text == "0\n", "\(shell.text)")
        if shell.text == "1\n" { shell.expectOneLineError("charrnn-epoch", containing: "<stdout>: cannot write: Broken pipe") }
        let cut = try Data(contentsOf: directory.appendingPathComponent("cut.ckpt"))
        #expect(cut.count == 1000)
        try Self.expectRefusedAsTruncated(
            cut, in: directory, tools: ["charrnn-inspect", "charrnn-sample", "charrnn-epoch"],
            label: "head -c 1000")
    }

    @Test(arguments: [SIGKILL, SIGTERM])
    func aWriterKilledMidStreamLeavesATruncatedCheckpoint(signal: Int32) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        // charrnn-init's LSTM 128 checkpoint is ~350 KB: it fills the pipe and blocks in write().
        let pipe = Pipe()
        let reader = pipe.fileHandleForReading.fileDescriptor
        let capacity = Int(fcntl(reader, TrainingRun.F_GETPIPE_SZ))
        #expect(capacity > 0 && capacity < 350_000, "pipe capacity \(capacity)")
        let errors = directory.appendingPathComponent("err.txt")
        let process = try Self.start(
            "charrnn-init", ["-q", "--hidden", "128", "v.ckpt"], directory: directory,
            errors: errors, stdout: pipe)
        try pipe.fileHandleForWriting.close()
        // The writer cannot finish while nobody reads: it stops, mid-write, once the pipe is full.
        // No event says so; the loop looks again every millisecond for as long as that takes.
        while Self.bytesInPipe(reader) < capacity, process.isRunning {
            usleep(1000)
        }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        let cut = pipe.fileHandleForReading.readDataToEndOfFile()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal)
        let stderr = try String(decoding: Data(contentsOf: errors), as: UTF8.self)
        #expect(stderr == (signal == SIGKILL ? "" : "charrnn-init: interrupted by SIGTERM; the output on <stdout> is incomplete\n"), "\(stderr)")
        #expect(cut.count == capacity, "read \(cut.count) bytes from a pipe of \(capacity)")
        try Self.expectRefusedAsTruncated(
            cut, in: directory, tools: ["charrnn-inspect", "charrnn-sample", "charrnn-epoch"],
            label: "writer killed by signal \(signal)")
    }

    /// New names in a directory (inotify), so that a test can wait for a file to appear as an event.
    final class CreationWatch {
        let descriptor: Int32

        init(_ directory: URL) {
            descriptor = inotify_init1(Int32(IN_CLOEXEC))
            _ = inotify_add_watch(descriptor, directory.path, UInt32(IN_CREATE))
        }

        deinit { close(descriptor) }

        /// Waits until `name` is created, or `process` has ended without creating it; true when it was created.
        func wait(for name: String, unlessEnded process: Process) -> Bool {
            var events = [UInt8](repeating: 0, count: 4096)
            while true {
                var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                // A creation wakes poll at once; the timeout only paces the look at whether the tool has ended.
                guard poll(&entry, 1, 50) > 0 else {
                    if !process.isRunning { return false }
                    continue
                }
                let count = read(descriptor, &events, events.count)
                // struct inotify_event: wd, mask, cookie, len (4 bytes each), then len bytes of NUL-padded name.
                var offset = 0
                while offset + 16 <= count {
                    let length = Int(events.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                    let created = events[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
                    if String(decoding: created, as: UTF8.self) == name { return true }
                    offset += 16 + length
                }
            }
        }
    }

    static func bytesInPipe(_ descriptor: Int32) -> Int32 {
        var count: Int32 = 0
        _ = ioctl(descriptor, UInt(FIONREAD), &count)
        return count
    }

    @Test(arguments: ["charrnn-vocab", "charrnn-init", "charrnn-epoch"])
    func aClosedPipeForACheckpointIsAnError(tool: String) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let arguments = [
            "charrnn-vocab": ["-q", "text.txt"], "charrnn-init": ["-q", "v.ckpt"],
            "charrnn-epoch": ["-q", "--text", "text.txt", "e0.ckpt"],
        ][tool]!
        // Nobody will ever read: the reading end is closed before the tool starts.
        let pipe = Pipe()
        try pipe.fileHandleForReading.close()
        let errors = directory.appendingPathComponent("err.txt")
        let process = try Self.start(tool, arguments, directory: directory, errors: errors, stdout: pipe)
        try pipe.fileHandleForWriting.close()
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1, "not killed by SIGPIPE")
        let stderr = try String(decoding: Data(contentsOf: errors), as: UTF8.self)
        #expect(stderr == "\(tool): <stdout>: cannot write: Broken pipe\n", "\(stderr)")
        // The same through a shell, where the reader may or may not have gone by the time of the write.
        let binary = Tools.binaries.appendingPathComponent(tool).path
        let shell = try Tools.run(
            "/bin/bash", ["-c", "\(binary) \(arguments.joined(separator: " ")) | true; echo ${PIPESTATUS[0]}"],
            directory: directory)
        #expect(shell.text == "1\n" || shell.text == "0\n", "\(shell.text)")
        if shell.text == "1\n" { shell.expectOneLineError(tool, containing: "<stdout>: cannot write: Broken pipe") }
    }

    /// Makes a character device like /dev/null (1, 3) at `path`; false without the privilege (mknod needs root).
    static func makeNullDevice(at path: String) -> Bool {
        mknod(path, S_IFCHR | 0o666, (1 << 8) | 3 /* makedev(1, 3) */) == 0
    }

    static let canMakeDevices: Bool = {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("charrnn-mknod-\(UUID().uuidString)").path
        defer { unlink(path) }
        return makeNullDevice(at: path)
    }()

    /// `-o /dev/null` once replaced the device with a regular file (the rename): a device
    /// is now written through and stays what it was.
    @Test(.enabled(if: canMakeDevices, "making a device (mknod) needs root"))
    func aDeviceAsOutputIsWrittenThroughNotReplaced() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        try #require(Self.makeNullDevice(at: directory.appendingPathComponent("null").path))
        let result = try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "null"], directory: directory)
        #expect(result.status == 0 && result.stderr.isEmpty)
        var info = stat()
        #expect(
            lstat(directory.appendingPathComponent("null").path, &info) == 0 && info.st_mode & S_IFMT == S_IFCHR,
            "still a character device")
    }

    /// A FIFO as `-o` is written through and stays what it was, like a device
    /// (aDeviceAsOutputIsWrittenThroughNotReplaced, which needs root); a symlink stays
    /// a link, and the file it names is replaced (HardeningTests for the atomicity).
    @Test func anOutputThatIsNotARegularFileIsWrittenThroughNotReplaced() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let vocab = try Data(contentsOf: directory.appendingPathComponent("v.ckpt"))
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("link.ckpt").path, withDestinationPath: "target.ckpt")
        try Data("old".utf8).write(to: directory.appendingPathComponent("target.ckpt"))
        let linked = try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "link.ckpt"], directory: directory)
        #expect(linked.status == 0)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: directory.appendingPathComponent("link.ckpt").path) == "target.ckpt")
        #expect(try Data(contentsOf: directory.appendingPathComponent("target.ckpt")) == vocab)
        // The link's file is claimed before any work and replaced only when the new
        // contents are ready: a run that fails in between leaves it as it was.
        let failed = try Tools.run("charrnn-epoch", ["--text", "missing.txt", "-o", "link.ckpt", "e0.ckpt"], directory: directory)
        #expect(failed.status == 1)
        #expect(try Data(contentsOf: directory.appendingPathComponent("target.ckpt")) == vocab)
        let vocabTool = Tools.binaries.appendingPathComponent("charrnn-vocab").path
        let fifo = try Tools.run(
            "/bin/bash", ["-c", "mkfifo f && { cat f > got & } && \(vocabTool) -q text.txt -o f; wait; test -p f"],
            directory: directory)
        #expect(fifo.status == 0, "\(fifo.stderr)")
        #expect(try Data(contentsOf: directory.appendingPathComponent("got")) == vocab)
    }

    // MARK: - Full disk, file-size limit

    /// Mounts a tmpfs of `size` at `path`; false without the privilege (mount needs root, CAP_SYS_ADMIN).
    static func mountTmpfs(at path: String, size: String) -> Bool {
        "size=\(size)".withCString { mount("tmpfs", path, "tmpfs", 0, $0) } == 0
    }

    static let canMountTmpfs: Bool = {
        guard let directory = try? Tools.temporaryDirectory() else { return false }
        defer { try? FileManager.default.removeItem(at: directory) }
        guard mountTmpfs(at: directory.path, size: "64k") else { return false }
        umount2(directory.path, 2 /* MNT_DETACH */)
        return true
    }()

    @Test(.enabled(if: canMountTmpfs, "mounting a small tmpfs to fill needs root (CAP_SYS_ADMIN)"))
    func aFullFileSystemIsAClearErrorAndKeepsTheOldFile() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let disk = directory.appendingPathComponent("disk")
        try FileManager.default.createDirectory(at: disk, withIntermediateDirectories: true)
        // Required: the rest of the test fills the file system it writes to.
        try #require(Self.mountTmpfs(at: disk.path, size: "256k"), "mount: \(String(cString: strerror(errno)))")
        defer { umount2(disk.path, 2 /* MNT_DETACH */) }
        let old = try Data(contentsOf: directory.appendingPathComponent("e0.ckpt"))
        try old.write(to: disk.appendingPathComponent("x.ckpt"))
        // Fill the rest.
        let filler = open(disk.appendingPathComponent("filler").path, O_WRONLY | O_CREAT, 0o644)
        let block = [UInt8](repeating: 0xAB, count: 4096)
        while block.withUnsafeBytes({ write(filler, $0.baseAddress, $0.count) }) > 0 {}
        #expect(errno == ENOSPC)
        close(filler)
        for (tool, arguments) in [
            ("charrnn-init", ["-q", "--hidden", "16", "v.ckpt"]),
            ("charrnn-epoch", ["-q", "--text", "text.txt", "e0.ckpt"]),
            ("charrnn-vocab", ["-q", "text.txt"]),
        ] {
            let result = try Tools.run(tool, arguments + ["-o", "disk/x.ckpt"], directory: directory)
            #expect(result.status == 1 && !result.signalled, "\(tool)")
            result.expectOneLineError(tool, containing: "disk/x.ckpt: cannot write: No space left on device")
            #expect(try Self.names(disk) == ["filler", "x.ckpt"], "\(tool): no temporary file left")
            #expect(try Data(contentsOf: disk.appendingPathComponent("x.ckpt")) == old, "\(tool): the old file is intact")
        }
    }

    @Test func aFullDeviceOnStdoutIsAClearError() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        for (tool, arguments) in [("charrnn-init", ["-q", "v.ckpt"]), ("charrnn-epoch", ["-q", "--text", "text.txt", "e0.ckpt"])] {
            let result = try Tools.run(tool, arguments, directory: directory, stdoutPath: "/dev/full")
            #expect(result.status == 1 && !result.signalled)
            result.expectOneLineError(tool, containing: "<stdout>: cannot write: No space left on device")
        }
    }

    /// Every tool in every mode, help and version included, writing to a full device or
    /// to a standard output closed by the caller: one line naming <stdout>, and the
    /// tool's error status (2 for --diff), never 0 with nothing written.
    @Test func aFailedWriteOfStandardOutputIsAnErrorInEveryToolAndMode() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        try Tools.run("charrnn-epoch", Self.epochArguments, directory: directory)
        let modes: [(String, [String], Int32)] =
            [
                ("charrnn-vocab", ["-q", "text.txt"], 1), ("charrnn-init", ["-q", "v.ckpt"], 1),
                ("charrnn-epoch", ["-q", "--text", "text.txt", "e0.ckpt"], 1),
                ("charrnn-inspect", ["e1.ckpt"], 1), ("charrnn-inspect", ["--json", "e1.ckpt"], 1),
                ("charrnn-inspect", ["--params", "e1.ckpt"], 1), ("charrnn-inspect", ["--history", "e1.ckpt"], 1),
                ("charrnn-inspect", ["--diff", "e0.ckpt", "e1.ckpt"], 2),
                ("charrnn-sample", ["--length", "20", "e1.ckpt"], 1), ("charrnn-sample", ["--count", "2", "-0", "e1.ckpt"], 1),
                ("charrnn-sample", ["--score", "text.txt", "e1.ckpt"], 1),
            ]
            + ["charrnn-vocab", "charrnn-init", "charrnn-epoch", "charrnn-inspect", "charrnn-sample"].flatMap { tool in
                [(tool, ["--help"], 1), (tool, ["--version"], 1)]
            }
        for (tool, arguments, status) in modes {
            let full = try Tools.run(tool, arguments, directory: directory, stdoutPath: "/dev/full")
            #expect(full.status == status && !full.signalled, "\(tool) \(arguments) > /dev/full: status \(full.status)")
            #expect(full.stderr == "\(tool): <stdout>: cannot write: No space left on device\n", "\(tool) \(arguments): \(full.stderr)")
            let binary = Tools.binaries.appendingPathComponent(tool).path
            let closed = try Tools.run("/bin/sh", ["-c", "exec \"$0\" \"$@\" >&-", binary] + arguments, directory: directory)
            #expect(closed.status == status && !closed.signalled, "\(tool) \(arguments) >&-: status \(closed.status)")
            #expect(closed.stderr == "\(tool): <stdout>: cannot write: Bad file descriptor\n", "\(tool) \(arguments) >&-: \(closed.stderr)")
        }
    }

    @Test func aFileSizeLimitIsAClearErrorNotSIGXFSZ() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory)
        let initTool = Tools.binaries.appendingPathComponent("charrnn-init").path
        try Data("old".utf8).write(to: directory.appendingPathComponent("x.ckpt"))
        // bash counts `ulimit -f` in KiB: 8 KiB, and the checkpoint is ~22 KB.
        let toFile = try Tools.run("/bin/bash", ["-c", "ulimit -f 8; exec \(initTool) -q v.ckpt -o x.ckpt"], directory: directory)
        #expect(toFile.status == 1 && !toFile.signalled, "status \(toFile.status) signalled \(toFile.signalled)")
        toFile.expectOneLineError("charrnn-init", containing: "x.ckpt: cannot write: File too large")
        #expect(try Self.names(directory) == ["e0.ckpt", "text.txt", "v.ckpt", "x.ckpt"], "no temporary file left")
        #expect(try Data(contentsOf: directory.appendingPathComponent("x.ckpt")) == Data("old".utf8))
        let toStdout = try Tools.run("/bin/bash", ["-c", "ulimit -f 8; exec \(initTool) -q v.ckpt > y.ckpt"], directory: directory)
        #expect(toStdout.status == 1 && !toStdout.signalled)
        toStdout.expectOneLineError("charrnn-init", containing: "<stdout>: cannot write: File too large")
    }
}
