// Progress on stderr: a bar redrawn in place on a terminal, fitted to its
// width and redrawn when the width changes (SIGWINCH); log lines that start
// with the tool's name everywhere else. The bar's line is erased before any
// other message, by printError here and by the C signal handlers (Ctrl-C), so
// that no message is ever glued to it.

import CharRNN
import CCharRNNSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The one line at the bottom of a terminal that is redrawn in place.
///
/// When a terminal that reflows its lines (tmux, most emulators) is made
/// narrower, the part of the old bar that no longer fits moves one row up and
/// stays there; the next bar is drawn at the new width below it. Moving up to
/// erase that row would erase a line of real output on the terminals that do
/// not reflow (xterm), so it is left.
public enum StatusLine {
    /// Back to column 0, erase to the end of the line.
    static let erase = "\r\u{1B}[K"

    /// Columns a status line leaves free at the right: the terminal's echo of
    /// Ctrl-C ("^C") must fit on the same row, and the last column stays empty
    /// (some terminals wrap as soon as it is written), so that "\r" always
    /// goes back to the start of the line and erasing it leaves nothing behind.
    public static let spareColumns = 3

    /// Replaces the line with `text` (which must fit the terminal: see `columns`).
    public static func show(_ text: String) {
        // Marked first: a signal from here on erases the line before its message.
        charrnn_set_status_line_shown(1)
        printErrorRaw(erase + text)
    }

    /// Erases the line, if one is shown.
    public static func clear() {
        guard charrnn_status_line_shown() != 0 else { return }
        charrnn_set_status_line_shown(0)
        printErrorRaw(erase)
    }

    /// True when stderr is a terminal that can redraw a line: not one whose
    /// $TERM is "dumb" (an editor's shell buffer, some CI logs), which shows
    /// "\r" and escapes as text and gets log lines instead.
    public static var canRedraw: Bool {
        guard SystemInfo.isTerminal(STDERR_FILENO) else { return false }
        guard let term = getenv("TERM") else { return true }
        return String(cString: term) != "dumb"
    }

    /// Lines of `fields` joined by spaces, each at most `width` columns with
    /// `prefix` before it (a field longer than that has a line of its own): the
    /// epoch's summary on a narrow terminal, so that no line wraps.
    public static func wrapped(_ fields: [String], prefix: String, width: Int) -> [String] {
        var lines: [String] = []
        var line = ""
        for field in fields {
            if !line.isEmpty, prefix.count + line.count + 1 + field.count > width {
                lines.append(prefix + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + field
        }
        if !line.isEmpty { lines.append(prefix + line) }
        return lines
    }

    /// The width of the terminal on `descriptor` (stderr): TIOCGWINSZ, else $COLUMNS, else 80.
    public static func columns(of descriptor: Int32 = STDERR_FILENO) -> Int {
        let measured = Int(charrnn_terminal_columns(descriptor))
        if measured > 0 { return measured }
        if let text = getenv("COLUMNS"), let value = Int(String(cString: text)), value > 0 { return value }
        return 80
    }
}

/// Prints charrnn-epoch's progress on stderr: the bar on a terminal, at most every
/// `redrawInterval` seconds; otherwise a log line every `logEvery` seconds (0: none).
public final class ProgressPrinter {
    let tool: String
    let epoch: Int
    let quiet: Bool
    let logEvery: Double
    let sequenceLength: Int
    let isTerminal = StatusLine.canRedraw
    /// Seconds between redraws of the bar: 0.1, or $CHARRNN_PROGRESS_INTERVAL
    /// (0 redraws after every batch, as the terminal tests do).
    let redrawInterval: Double
    var columns = 80
    var lastPrint = 0.0

    public init(tool: String, epoch: Int, quiet: Bool, logEvery: Double, sequenceLength: Int) {
        self.tool = tool
        self.epoch = epoch
        self.quiet = quiet
        self.logEvery = logEvery
        self.sequenceLength = sequenceLength
        let setting = getenv("CHARRNN_PROGRESS_INTERVAL").flatMap { Double(String(cString: $0)) }
        redrawInterval = setting.map { $0 >= 0 && $0.isFinite ? $0 : 0.1 } ?? 0.1
        if isTerminal, !quiet {
            charrnn_watch_window_size()
            columns = StatusLine.columns()
        }
    }

    public func report(_ progress: TrainingProgress) {
        guard !quiet else { return }
        if isTerminal {
            let resized = charrnn_window_size_changed() != 0
            let due = progress.secondsElapsed - lastPrint >= redrawInterval || progress.batch == progress.batches
            guard resized || due else { return }
            // Measured at every redraw, not only on SIGWINCH (which a terminal multiplexer
            // may not pass on): a bar wider than the line would wrap and leave its remnant.
            columns = StatusLine.columns()
            lastPrint = progress.secondsElapsed
            StatusLine.show(ProgressReport.bar(epoch: epoch, progress, width: columns - StatusLine.spareColumns))
        } else if logEvery > 0, progress.secondsElapsed - lastPrint >= logEvery {
            lastPrint = progress.secondsElapsed
            printError(
                "\(tool): "
                    + ProgressReport.logLine(
                        epoch: epoch, progress, sequenceLength: sequenceLength,
                        timestamp: isoTimestamp()))
        }
    }

    /// A line on stderr during the epoch (a validation point), above the bar, unless quiet.
    public func note(_ line: String) {
        guard !quiet else { return }
        StatusLine.clear()
        printError(line)
    }

    /// Erases the bar; call before the epoch's own messages.
    public func finish() {
        StatusLine.clear()
    }

    /// The epoch's summary as printed on stderr: one line (which scripts read),
    /// or on a terminal narrower than that line, its fields over as many lines
    /// as fit the width, each starting with the tool's name.
    public func printSummary(_ outcome: EpochOutcome) {
        let fields = ProgressReport.summaryFields(outcome)
        let prefix = "\(tool): "
        let line = prefix + fields.joined(separator: " ")
        guard SystemInfo.isTerminal(STDERR_FILENO) else { return printError(line) }
        // The last column stays empty: some terminals wrap as soon as it is written.
        let width = StatusLine.columns() - 1
        guard line.count > width else { return printError(line) }
        for wrapped in StatusLine.wrapped(fields, prefix: prefix, width: width) { printError(wrapped) }
    }
}
