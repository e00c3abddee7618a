// The C library's exit(3) under a name that nothing shadows: inside an
// ArgumentParser command, `exit` names the command's own static
// `exit(withError:)`, so an unqualified `exit(0)` there does not compile.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Ends the process with `status` (atexit handlers run, stdio is flushed).
func exitProcess(_ status: Int32) -> Never {
    exit(status)
}
