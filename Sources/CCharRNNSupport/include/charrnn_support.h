// Small pieces of C that Swift cannot express directly: CPU feature checks,
// the floating-point control register, and async-signal-safe handling of
// SIGINT/SIGTERM (a one-line message, the temporary output file removed), and
// the terminal's width and its changes (TIOCGWINSZ, SIGWINCH) for progress bars.
#ifndef CHARRNN_SUPPORT_H
#define CHARRNN_SUPPORT_H

#include <stdint.h>

// The AVX-512 GEMM kernels. Included here (not only found through the umbrella
// directory) so that an existing build's cached module notices the new header.
#include "gemm_avx512.h"

/// 1 when the CPU (and OS) support AVX2 and FMA, 0 otherwise.
int charrnn_cpu_has_avx2_fma(void);

/// Sets flush-to-zero and denormals-are-zero for the calling thread (x86 MXCSR).
/// Returns the previous MXCSR value, or 0 where this is not x86.
/// With CHARRNN_NO_FTZ=1 in the environment it changes nothing (a diagnostic
/// for measuring what flushing saves; see scripts/denormal-bench).
uint32_t charrnn_enable_flush_denormals(void);

/// Restores a control register value returned by charrnn_enable_flush_denormals.
void charrnn_restore_mxcsr(uint32_t previous);

/// 1 when FTZ and DAZ are both set for the calling thread.
int charrnn_flush_denormals_enabled(void);

/// Installs the handlers for SIGINT, SIGTERM and SIGHUP: each prints
/// "<tool>: interrupted by SIGINT<note>" on stderr, unlinks the registered
/// temporary file, and dies of the same signal (shell status 128 + n). A signal
/// the parent left ignored (nohup, a background job of a script) stays ignored.
/// Also ignores SIGPIPE and SIGXFSZ, so that a closed pipe or a file-size
/// limit shows up as EPIPE or EFBIG from write() and is reported as an error.
void charrnn_install_signal_handlers(const char *tool);

/// From now on, the first SIGINT, SIGTERM or SIGHUP only prints
/// "<tool>: SIGINT<note>" and is noted for charrnn_deferred_signal (the caller
/// finishes its step and saves); a second one is handled as usual.
void charrnn_defer_termination(const char *note);
/// Signals are handled as usual again (a signal already noted stays noted).
void charrnn_stop_deferring_termination(void);
/// The signal noted while deferring, or 0.
int charrnn_deferred_signal(void);
/// Dies of `sig` (its default action), as a shell expects of an interrupted command.
void charrnn_die_of_signal(int sig);

/// Text appended to the interruption message, e.g. "; nothing written" (copied).
void charrnn_set_interrupt_note(const char *note);

/// Registers a path to unlink if SIGINT, SIGTERM or SIGHUP arrives
/// (the path is copied; one path at a time). Installs the handlers once.
/// Returns 0 on success, -1 when the path is too long.
int charrnn_cleanup_on_signal(const char *path);

/// Unblocks SIGINT, SIGTERM, SIGHUP, SIGPIPE and SIGXFSZ for the calling thread: a parent may have
/// spawned us with them blocked, and Ctrl-C must always stop a run.
void charrnn_unblock_termination_signals(void);

/// Says the registered file now exists: if a signal then finds it gone, it has
/// been renamed into place and the message leaves out the note.
void charrnn_cleanup_created(void);

/// Forgets the registered path (after a successful rename).
void charrnn_cleanup_clear(void);

/// A spin-wait hint to the CPU (x86 PAUSE).
static inline void charrnn_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/// Says whether a progress bar occupies stderr's current line (a terminal).
/// While it does, the signal handlers above erase that line ("\r\033[K")
/// before their message, so it never ends up glued to the bar.
void charrnn_set_status_line_shown(int shown);

/// 1 while a progress bar is shown (see charrnn_set_status_line_shown).
int charrnn_status_line_shown(void);

/// The width in columns of the terminal on `fd` (TIOCGWINSZ), or 0 when it is
/// not a terminal or does not say.
int charrnn_terminal_columns(int fd);

/// Installs a SIGWINCH handler that only notes the change (SA_RESTART), for
/// charrnn_window_size_changed, and unblocks SIGWINCH for the calling thread.
void charrnn_watch_window_size(void);

/// 1 once after each SIGWINCH since the last call, else 0.
int charrnn_window_size_changed(void);

/// Physical memory in bytes, or 0 when unknown.
uint64_t charrnn_physical_memory(void);

/// Processors this process may run on (sched_getaffinity), else those online; at least 1.
int charrnn_usable_processors(void);

// Flushes stdio's standard output: 0 when everything it was given has been
// written, the errno of a flush that fails now, or -1 when an earlier write
// failed (its errno is gone).
int charrnn_flush_stdout(void);

// snprintf(buffer, capacity, pattern, value) for one double: what the fast
// number formatting falls back to, without Swift's variadic-argument boxing.
int charrnn_format_double(char *buffer, unsigned long capacity, const char *pattern, double value);

#endif
