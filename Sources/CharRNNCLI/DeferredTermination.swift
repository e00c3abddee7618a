// charrnn-epoch stops inside an epoch on SIGINT, SIGTERM or SIGHUP when it has
// a file to write: the first signal is noted (CCharRNNSupport's handler prints
// one line), the training loop stops after its sequence, the partial epoch is
// written atomically, and the tool dies of that signal (status 128 + n). A
// second signal aborts at once, with nothing written, as every tool does.

import CCharRNNSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public enum DeferredTermination {
    /// From now on the first termination signal is only noted; `note` ends its line.
    public static func begin(note: String) {
        note.withCString { charrnn_defer_termination($0) }
    }

    /// Signals are handled as usual again.
    public static func end() { charrnn_stop_deferring_termination() }

    /// The signal noted, or nil.
    public static var received: Int32? {
        let signal = charrnn_deferred_signal()
        return signal == 0 ? nil : signal
    }

    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: "SIGINT"
        case SIGTERM: "SIGTERM"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }

    /// Dies of `signal`, as a shell expects of an interrupted command.
    public static func die(of signal: Int32) -> Never {
        charrnn_die_of_signal(signal)
        exitProcess(128 + signal)
    }

    /// Whether standard output is a regular file (`> e2.ckpt`), where a partial checkpoint can be kept.
    public static var standardOutputIsAFile: Bool {
        var info = stat()
        return fstat(STDOUT_FILENO, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
    }
}
