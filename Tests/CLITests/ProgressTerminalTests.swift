// charrnn-epoch's progress bar as a terminal shows it. The tool runs on the
// slave side of a pseudo-terminal of a given width; the test reads everything
// it writes from the master side and replays it through a small model of a
// terminal (autowrap, carriage return, erase to end of line), as tmux or
// xterm would show it. Nothing waits for time: the test waits for output
// (the first bar) and holds the tool still by not reading, because a tool
// that cannot write cannot finish (see `PseudoTerminal.capacity`). With tmux
// installed, the final screen is also read from a real terminal.

import CharRNN
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A pseudo-terminal whose slave side is a spawned tool's stdin, stdout and stderr.
final class PseudoTerminal {
    let master: Int32
    let slavePath: String
    /// Everything read from the master so far.
    private(set) var output: [UInt8] = []
    private(set) var pid: pid_t = 0

    init(columns: Int, rows: Int = 24) throws {
        // posix_openpt, unlockpt and ptsname, which Swift's Glibc module does not
        // export: open the multiplexer, unlock the slave, ask for its number.
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        var unlock: Int32 = 0, number: UInt32 = 0
        guard master >= 0, ioctl(master, Self.TIOCSPTLCK, &unlock) == 0, ioctl(master, Self.TIOCGPTN, &number) == 0 else {
            throw POSIXError(.ENODEV)
        }
        slavePath = "/dev/pts/\(number)"
        resize(columns: columns, rows: rows)
    }

    // <asm-generic/ioctls.h>: _IOW('T', 0x31, int) and _IOR('T', 0x30, unsigned int), macros Swift cannot import.
    static let TIOCSPTLCK: UInt = 0x4004_5431
    static let TIOCGPTN: UInt = 0x8004_5430

    deinit { close(master) }

    /// Sets the terminal's size (TIOCSWINSZ), as a terminal emulator does when its window changes.
    func resize(columns: Int, rows: Int = 24) {
        var size = winsize(ws_row: UInt16(rows), ws_col: UInt16(columns), ws_xpixel: 0, ws_ypixel: 0)
        _ = ioctl(master, UInt(TIOCSWINSZ), &size)
    }

    /// How many bytes a writer can put into a pseudo-terminal that nobody reads,
    /// measured on a fresh one: beyond this, the writer waits.
    static let capacity: Int = {
        guard let probe = try? PseudoTerminal(columns: 80) else { return 1 << 20 }
        let slave = open(probe.slavePath, O_RDWR | O_NOCTTY | O_NONBLOCK)
        defer { close(slave) }
        let chunk = [UInt8](repeating: 0x78, count: 100)
        var total = 0
        while true {
            let written = chunk.withUnsafeBytes { write(slave, $0.baseAddress, $0.count) }
            if written <= 0 { break }
            total += written
        }
        return total
    }()

    /// Starts `tool arguments` in `directory` with the slave as its terminal.
    func spawn(_ tool: String, _ arguments: [String], in directory: URL, environment: [String: String] = [:]) throws {
        let settings = environment.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        // Opened here and closed once the child has it: reading the master before
        // any process has opened the slave would end at once (EIO).
        let slave = open(slavePath, O_RDWR | O_NOCTTY)
        guard slave >= 0 else { throw POSIXError(.ENODEV) }
        defer { close(slave) }
        pid = try Spawn.start(
            [
                "cd \"$1\" && shift && unset COLUMNS && exec env \(settings) \"$@\"", directory.path,
                Tools.binaries.appendingPathComponent(tool).path,
            ] + arguments,
            terminal: slave)
    }

    /// Reads until `done` holds for the output so far, or the tool closes the terminal.
    func read(until done: ([UInt8]) -> Bool = { _ in false }) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !done(output) {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
            if count > 0 {
                output += buffer[0..<count]
            } else if count < 0, errno == EINTR {
                continue
            } else {
                return  // EIO: every process has closed the slave
            }
        }
    }

    /// Reads to the end, then reaps the tool: its exit status or the signal that ended it.
    func finish() -> (status: Int32, signal: Int32) {
        read()
        return Spawn.wait(pid)
    }
}

/// Processes started without Foundation: posix_spawn, then bash closes every
/// descriptor above 2 before it runs the command. Foundation's Process learns
/// that a child has ended when a socket the child inherited closes; a child
/// that keeps such a socket of another test's Process open (tmux's server
/// lives on) would make that Process wait for as long as it lives.
enum Spawn {
    /// Runs `command[0]` (a bash script, the rest of `command` as $1...) with
    /// stdin, stdout and stderr on `terminal`, or on /dev/null and the files
    /// `stdout` and `stderr`. Returns the pid once the command runs; reap it with `wait`.
    ///
    /// The child inherits the signal mask of the test's thread, which blocks
    /// most signals, as a careless parent would: the tools must unblock what
    /// they need (SIGINT, SIGWINCH). With `cleanSignals` it starts as from a
    /// shell instead, nothing blocked and every signal at its default, which
    /// tmux needs to hear kill-server.
    static func start(
        _ command: [String], terminal: Int32? = nil, stdout: String = "/dev/null",
        stderr: String = "/dev/null", cleanSignals: Bool = false
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        if cleanSignals {
            var none = sigset_t(), all = sigset_t()
            sigemptyset(&none)
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        }
        if let terminal {
            for target in Int32(0)...2 { posix_spawn_file_actions_adddup2(&actions, terminal, target) }
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        }
        let closing = "for fd in /proc/$$/fd/*; do fd=${fd##*/}; [ \"$fd\" -gt 2 ] && eval \"exec $fd>&-\"; done; "
        let argv = ["/bin/bash", "-c", closing + command[0], "bash"] + command.dropFirst()
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, "/bin/bash", &actions, &attributes, cArguments, environ)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .ECHILD) }
        return pid
    }

    /// Waits for `pid`: its exit status, or the signal that ended it.
    static func wait(_ pid: pid_t) -> (status: Int32, signal: Int32) {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signal = status & 0x7F
        return (signal == 0 ? (status >> 8) & 0xFF : 0, signal)
    }

    /// Runs `program arguments` to its end, as from a shell; returns its status and what it printed.
    static func run(_ program: String, _ arguments: [String], in directory: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let out = directory.appendingPathComponent(".spawn-out-\(UUID().uuidString)")
        let err = directory.appendingPathComponent(".spawn-err-\(UUID().uuidString)")
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let pid = try start(
            ["cd \"$1\" && shift && exec \"$@\"", directory.path, program] + arguments,
            stdout: out.path, stderr: err.path, cleanSignals: true)
        let (status, _) = wait(pid)
        let read = { (url: URL) in (try? String(contentsOf: url, encoding: .utf8)) ?? "" }
        return (status, read(out), read(err))
    }
}

/// What a terminal of `columns` shows after a stream of output: a grid of
/// rows that grows downwards without limit (so scrolled-off rows are kept),
/// with xterm's autowrap (a character written in the last column leaves the
/// cursor there; the next one wraps). Understands printable characters, CR,
/// LF, BS and ESC [ K; anything else is recorded in `unknown`.
struct TerminalModel {
    let columns: Int
    var rows: [[Character]] = [[]]
    var row = 0, column = 0
    var pendingWrap = false
    var unknown: [String] = []

    init(columns: Int) { self.columns = columns }

    /// Feeds the whole output of a run.
    mutating func feed(_ bytes: [UInt8]) {
        let scalars = Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            switch scalar {
            case "\r":
                column = 0
                pendingWrap = false
            case "\n":
                newRow()
            case "\u{8}":
                column = max(0, column - 1)
                pendingWrap = false
            case "\u{1B}":
                // ESC [ K (erase to the end of the line) is all the tools send.
                if index + 2 < scalars.count, scalars[index + 1] == "[", scalars[index + 2] == "K" {
                    if rows[row].count > column { rows[row].removeSubrange(column...) }
                    pendingWrap = false
                    index += 2
                } else {
                    unknown.append("ESC at scalar \(index)")
                }
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    unknown.append("U+\(String(scalar.value, radix: 16)) at scalar \(index)")
                } else {
                    put(Character(scalar))
                }
            }
            index += 1
        }
    }

    private mutating func newRow() {
        row += 1
        if row == rows.count { rows.append([]) }
        pendingWrap = false
    }

    private mutating func put(_ character: Character) {
        if pendingWrap {
            newRow()
            column = 0
        }
        while rows[row].count < column { rows[row].append(" ") }
        if column < rows[row].count { rows[row][column] = character } else { rows[row].append(character) }
        if column == columns - 1 { pendingWrap = true } else { column += 1 }
    }

    /// The rows that hold anything, trailing spaces removed.
    var shown: [String] {
        rows.map { String($0).replacingOccurrences(of: #" +$"#, with: "", options: .regularExpression) }.filter { !$0.isEmpty }
    }
}

@Suite struct ProgressTerminalTests {
    static let erase = "\r\u{1B}[K"

    /// Each bar as drawn: the text after an erase, up to the next control character;
    /// messages printed after an erase (the summary) are not bars.
    static func frames(_ output: [UInt8]) -> [String] {
        String(decoding: output, as: UTF8.self).components(separatedBy: erase).dropFirst()
            .map { String($0.prefix { $0 != "\r" && $0 != "\n" && $0 != "\u{1B}" }) }
            .filter { !$0.isEmpty && !$0.hasPrefix("charrnn-epoch:") }
    }

    /// text.txt, v.ckpt and e0.ckpt (an LSTM of 4 units) in `directory`; the text has `characters` characters.
    static func prepare(_ directory: URL, characters: Int) throws {
        let line = String(decoding: EpochCLITests.text, as: UTF8.self)
        let text = String(String(repeating: line, count: characters / line.count + 1).prefix(characters))
        try Data(text.utf8).write(to: directory.appendingPathComponent("text.txt"))
        try Tools.run("charrnn-vocab", ["-q", "text.txt", "-o", "v.ckpt"], directory: directory)
        try Tools.run("charrnn-init", ["-q", "--hidden", "4", "-o", "e0.ckpt", "v.ckpt"], directory: directory)
    }

    /// One batch per character (rows 1, one step), one thread, nothing held out, a bar after every batch.
    static let epochArguments = [
        "--text", "text.txt", "--seq-length", "1", "--batch-rows", "1", "--val-fraction", "0",
        "--threads", "1", "-o", "e1.ckpt", "e0.ckpt",
    ]
    static let everyBatch = ["CHARRNN_PROGRESS_INTERVAL": "0"]

    static func hasFrame(_ output: [UInt8]) -> Bool { frames(output).contains { $0.contains("ETA ") } }

    @Test(arguments: [40, 80, 120])
    func everyBarFitsTheTerminalAndTheScreenEndsClean(columns: Int) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory, characters: 300)
        let terminal = try PseudoTerminal(columns: columns)
        try terminal.spawn("charrnn-epoch", Self.epochArguments, in: directory, environment: Self.everyBatch)
        let (status, signal) = terminal.finish()
        #expect(status == 0 && signal == 0, "\(String(decoding: terminal.output, as: UTF8.self).suffix(300))")

        let frames = Self.frames(terminal.output)
        #expect(frames.count >= 100, "a bar per batch")
        for frame in frames {
            // Three columns stay free: the last one, and two for the terminal's "^C".
            #expect(frame.count <= columns - 3, "\(columns) columns: '\(frame)' (\(frame.count))")
            // The loss and the ETA are the last fields to go.
            #expect(frame.contains("loss ") && frame.contains(" ETA "), "\(columns) columns: '\(frame)'")
        }
        if columns == 120 {
            #expect(frames.allSatisfy { $0.hasPrefix("epoch 1 [") && $0.contains(" (avg ") && $0.contains(" chars/s ETA ") })
        }
        if columns == 40 {
            #expect(frames.allSatisfy { !$0.contains("chars/s") && !$0.contains("(avg") && $0.contains("] ") })
        }

        var screen = TerminalModel(columns: columns)
        screen.feed(terminal.output)
        #expect(screen.unknown.isEmpty, "\(screen.unknown.prefix(3))")
        // What stays on the screen is the summary, in lines that fit the width (none
        // wraps), each with the tool's name, and nothing of the bar.
        #expect(screen.shown.first?.hasPrefix("charrnn-epoch: epoch 1: lr 0.002") == true, "\(screen.shown)")
        #expect(screen.shown.allSatisfy { $0.hasPrefix("charrnn-epoch: ") && $0.count < columns }, "\(screen.shown)")
    }

    /// SIGWINCH: after the window narrows, the bar is drawn at the new width.
    @Test func aNarrowerWindowGetsANarrowerBar() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let batches = 4 * PseudoTerminal.capacity / 20 + 200
        try Self.prepare(directory, characters: batches)
        let terminal = try PseudoTerminal(columns: 120)
        try terminal.spawn("charrnn-epoch", Self.epochArguments, in: directory, environment: Self.everyBatch)
        terminal.read(until: Self.hasFrame)
        let before = terminal.output.count
        // The epoch cannot end yet: its bars (20 bytes or more each) do not fit in what has been read and the terminal's buffer.
        #expect(batches * 20 > before + PseudoTerminal.capacity)
        terminal.resize(columns: 40)
        kill(terminal.pid, SIGWINCH)
        let (status, _) = terminal.finish()
        #expect(status == 0)
        let wide = Self.frames(Array(terminal.output[..<before]))
        let all = Self.frames(terminal.output)
        #expect(wide.allSatisfy { $0.count > 40 - 3 }, "the first bars use the 120 columns")
        let last = try #require(all.last)
        #expect(last.count <= 40 - 3 && last.contains("loss ") && last.contains(" ETA "), "'\(last)' of \(all.count); \(all.suffix(3))")
        #expect(last.contains("[==") && !last.contains(">"), "the bar of the last batch is full: '\(last)'")
    }

    /// SIGINT in the middle of the bar: the messages start on a clean line and no bar is left
    /// (the first signal keeps the partial epoch in e1.ckpt).
    @Test func anInterruptMessageReplacesTheBar() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let batches = 4 * PseudoTerminal.capacity / 20 + 200
        try Self.prepare(directory, characters: batches)
        let terminal = try PseudoTerminal(columns: 80)
        try terminal.spawn("charrnn-epoch", Self.epochArguments, in: directory, environment: Self.everyBatch)
        terminal.read(until: Self.hasFrame)
        #expect(batches * 20 > terminal.output.count + PseudoTerminal.capacity)
        kill(terminal.pid, SIGINT)
        let (_, signal) = terminal.finish()
        #expect(signal == SIGINT)
        var screen = TerminalModel(columns: 80)
        screen.feed(terminal.output)
        #expect(
            screen.shown.first?.hasPrefix("charrnn-epoch: SIGINT: finishing this sequence, then writing the partial epoch") == true,
            "\(screen.shown)")
        #expect(!screen.shown.contains { $0.contains("ETA ") }, "\(screen.shown)")
        #expect(screen.shown.joined().contains("charrnn-epoch: epoch 1 stopped by SIGINT after "), "\(screen.shown)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("e1.ckpt").path))
    }

    static let tmux = ["/usr/bin/tmux", "/usr/local/bin/tmux"].first { FileManager.default.isExecutableFile(atPath: $0) }

    /// The same run in tmux, a real terminal: when it is over, the screen holds the summary and nothing else.
    @Test(.enabled(if: tmux != nil), arguments: [40, 80, 120])
    func tmuxShowsOnlyTheSummaryAfterTheEpoch(columns: Int) throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.prepare(directory, characters: 300)
        // A server of our own, its socket in the test's directory, so that no other tmux session is touched.
        let socket = directory.appendingPathComponent("tmux.socket").path
        func tmux(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try Spawn.run(Self.tmux!, ["-S", socket, "-f", "/dev/null"] + arguments, in: directory)
        }
        defer { _ = try? tmux(["kill-server"]) }
        let epoch = Tools.binaries.appendingPathComponent("charrnn-epoch").path
        let command =
            "cd '\(directory.path)' && CHARRNN_PROGRESS_INTERVAL=0 '\(epoch)' "
            + Self.epochArguments.joined(separator: " ") + "; tmux -S '\(socket)' wait-for -S finished; exec cat"
        let started = try tmux(["new-session", "-d", "-x", "\(columns)", "-y", "24", "-s", "epoch", command])
        #expect(started.status == 0, "\(started.stderr)")
        // Returns once the command above has signalled: the epoch is over.
        let waited = try tmux(["wait-for", "finished"])
        #expect(waited.status == 0, "\(waited.stderr)")
        let pane = try tmux(["capture-pane", "-p", "-J", "-S", "-", "-t", "epoch"])
        let lines = pane.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        #expect(lines.first?.hasPrefix("charrnn-epoch: epoch 1: lr 0.002") == true, "\(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix("charrnn-epoch: ") && $0.count < columns }, "only the summary, unwrapped: \(lines)")
    }
}
