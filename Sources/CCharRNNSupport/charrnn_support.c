#define _GNU_SOURCE 1
#include "charrnn_support.h"

#include <sched.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <xmmintrin.h>
#endif

int charrnn_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

// MXCSR bit 15 = flush to zero, bit 6 = denormals are zero.
#define CHARRNN_FTZ_DAZ 0x8040u

// CHARRNN_NO_FTZ=1 leaves the mode alone: a diagnostic, to measure what flushing saves.
static int flushing_disabled(void) {
    const char *value = getenv("CHARRNN_NO_FTZ");
    return value != NULL && strcmp(value, "1") == 0;
}

uint32_t charrnn_enable_flush_denormals(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t previous = _mm_getcsr();
    if (flushing_disabled()) return previous;
    _mm_setcsr(previous | CHARRNN_FTZ_DAZ);
    return previous;
#else
    return 0;
#endif
}

void charrnn_restore_mxcsr(uint32_t previous) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_setcsr(previous);
#else
    (void)previous;
#endif
}

int charrnn_flush_denormals_enabled(void) {
#if defined(__x86_64__) || defined(__i386__)
    return (_mm_getcsr() & CHARRNN_FTZ_DAZ) == CHARRNN_FTZ_DAZ;
#else
    return 0;
#endif
}

// The handler may only touch these static buffers and call async-signal-safe
// functions (write, unlink, signal, raise).
static char cleanup_path[4096];
static volatile sig_atomic_t cleanup_armed = 0;
static volatile sig_atomic_t cleanup_created = 0;
static volatile sig_atomic_t handlers_installed = 0;
static char tool_name[64];
static char interrupt_note[256];
static volatile sig_atomic_t note_ready = 0;
// A progress bar is on stderr's current line (a terminal): clear it before any message.
static volatile sig_atomic_t status_line_shown = 0;
static volatile sig_atomic_t window_changed = 0;
// charrnn-epoch with a file to write: the first SIGINT/SIGTERM/SIGHUP is only
// noted (the training loop stops after its sequence and saves the partial
// epoch); the next one is handled as usual (report_and_reraise).
static volatile sig_atomic_t defer_termination = 0;
static volatile sig_atomic_t deferred_signal = 0;
// Who sent the deferred signal (0: the kernel, as for a terminal's Ctrl-C). A
// signal from another sender while the epoch finishes is the same request
// relayed (a script passing its signal on to the tool, on top of the signal its
// process group got from the terminal or from GNU parallel): it is not a
// second request. A second signal from the same sender is, and aborts.
static volatile pid_t deferred_sender = 0;
static char defer_note[256];

static size_t bounded_copy(char *destination, size_t capacity, const char *source) {
    size_t length = strlen(source);
    if (length >= capacity) length = capacity - 1;
    memcpy(destination, source, length);
    destination[length] = 0;
    return length;
}

static void append(char *line, size_t *used, size_t capacity, const char *text) {
    while (*text && *used + 1 < capacity) line[(*used)++] = *text++;
}

static void report_and_reraise(int sig) {
    int saved_errno = errno;
    // The temporary file was created and is gone: it has just been renamed into
    // place, so the output is complete and "nothing written" would be wrong.
    int renamed = 0;
    if (cleanup_armed) {
        renamed = unlink(cleanup_path) != 0 && errno == ENOENT && cleanup_created;
        cleanup_armed = 0;
    }
    if (tool_name[0]) {
        const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
        char line[512];
        size_t used = 0;
        // "\r\033[K": back to the start of the progress bar's line and erase it (and the
        // terminal's echo of ^C), so the message starts on a clean line.
        if (status_line_shown) append(line, &used, sizeof line, "\r\033[K");
        append(line, &used, sizeof line, tool_name);
        append(line, &used, sizeof line, ": interrupted by ");
        append(line, &used, sizeof line, name);
        if (note_ready && !renamed) append(line, &used, sizeof line, interrupt_note);
        line[used++] = '\n';
        ssize_t ignored = write(STDERR_FILENO, line, used);
        (void)ignored;
    }
    errno = saved_errno;
    // Die of the same signal, so the parent shell sees the usual status (130 for Ctrl-C, 143 for SIGTERM).
    signal(sig, SIG_DFL);
    raise(sig);
}

static void handle_termination(int sig, siginfo_t *info, void *context) {
    (void)context;
    pid_t sender = info ? info->si_pid : 0;
    if (defer_termination && deferred_signal != 0 && sender != deferred_sender) return;  // relayed: see deferred_sender
    // The first signal wins, even when two arrive at once on two threads (a lock-free
    // compare-and-swap is async-signal-safe); any other is handled as usual.
    if (!defer_termination || !__sync_bool_compare_and_swap(&deferred_signal, 0, sig)) {
        report_and_reraise(sig);
        return;
    }
    deferred_sender = sender;
    if (tool_name[0]) {
        const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : "a signal";
        char line[512];
        size_t used = 0;
        if (status_line_shown) append(line, &used, sizeof line, "\r\033[K");
        status_line_shown = 0;
        append(line, &used, sizeof line, tool_name);
        append(line, &used, sizeof line, ": ");
        append(line, &used, sizeof line, name);
        append(line, &used, sizeof line, defer_note);
        line[used++] = '\n';
        int saved_errno = errno;
        ssize_t ignored = write(STDERR_FILENO, line, used);
        (void)ignored;
        errno = saved_errno;
    }
}

void charrnn_defer_termination(const char *note) {
    bounded_copy(defer_note, sizeof defer_note, note);
    deferred_signal = 0;
    deferred_sender = -1;  // no sender yet: one that races the first signal's bookkeeping counts as a relay
    defer_termination = 1;
}

void charrnn_stop_deferring_termination(void) { defer_termination = 0; }

int charrnn_deferred_signal(void) { return deferred_signal; }

void charrnn_die_of_signal(int sig) {
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    raise(sig);
}

static void install_handlers(void) {
    if (handlers_installed) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = handle_termination;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    // Block the other termination signals while one is handled: one message, one cleanup.
    sigaddset(&action.sa_mask, SIGINT);
    sigaddset(&action.sa_mask, SIGTERM);
    sigaddset(&action.sa_mask, SIGHUP);
    // A signal the parent set to be ignored stays ignored (nohup, `tool &` in a script).
    const int signals[] = {SIGINT, SIGTERM, SIGHUP};
    for (int i = 0; i < 3; i++) {
        struct sigaction previous;
        if (sigaction(signals[i], NULL, &previous) == 0 && previous.sa_handler == SIG_IGN) continue;
        sigaction(signals[i], &action, NULL);
    }
    handlers_installed = 1;
}

void charrnn_install_signal_handlers(const char *tool) {
    bounded_copy(tool_name, sizeof tool_name, tool);
    install_handlers();
    // A closed pipe and a file-size limit become errors from write() (EPIPE,
    // EFBIG) that the tool reports, instead of a silent death by signal.
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
}

void charrnn_set_interrupt_note(const char *note) {
    note_ready = 0;
    bounded_copy(interrupt_note, sizeof interrupt_note, note);
    note_ready = 1;
}

// A tool that fails after creating its temporary file exits normally (exit()),
// with the file still armed: it is removed here. After a successful rename the
// cleanup is cleared, and this does nothing.
static void cleanup_at_exit(void) {
    if (cleanup_armed && cleanup_created) unlink(cleanup_path);
    cleanup_armed = 0;
}

int charrnn_cleanup_on_signal(const char *path) {
    static int exit_hook_installed = 0;
    if (!exit_hook_installed) exit_hook_installed = atexit(cleanup_at_exit) == 0;
    size_t length = strlen(path);
    if (length >= sizeof cleanup_path) return -1;
    cleanup_armed = 0;
    cleanup_created = 0;
    memcpy(cleanup_path, path, length + 1);
    cleanup_armed = 1;
    install_handlers();
    return 0;
}

void charrnn_unblock_termination_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGXFSZ);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void charrnn_cleanup_created(void) {
    cleanup_created = 1;
}

void charrnn_cleanup_clear(void) {
    cleanup_armed = 0;
    cleanup_created = 0;
}

uint64_t charrnn_physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return 0;
    return (uint64_t)pages * (uint64_t)page_size;
}

int charrnn_usable_processors(void) {
#if defined(__linux__)
    // The processors this process may run on (taskset, cgroups' cpusets, a
    // container's --cpuset-cpus), which can be fewer than those online.
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int count = CPU_COUNT(&set);
        if (count > 0) return count;
    }
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

void charrnn_set_status_line_shown(int shown) {
    status_line_shown = shown ? 1 : 0;
}

int charrnn_status_line_shown(void) {
    return status_line_shown;
}

int charrnn_terminal_columns(int fd) {
    struct winsize size;
    if (ioctl(fd, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return 0;
    return size.ws_col;
}

static void note_window_change(int sig) {
    (void)sig;
    window_changed = 1;
}

void charrnn_watch_window_size(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = note_window_change;
    sigemptyset(&action.sa_mask);
    // Reads and writes in progress resume rather than fail with EINTR.
    action.sa_flags = SA_RESTART;
    sigaction(SIGWINCH, &action, NULL);
    // A parent may have started us with it blocked (the mask is inherited).
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int charrnn_window_size_changed(void) {
    if (!window_changed) return 0;
    window_changed = 0;
    return 1;
}

int charrnn_flush_stdout(void) {
    errno = 0;
    if (fflush(stdout) != 0) return errno != 0 ? errno : -1;
    return ferror(stdout) ? -1 : 0;
}

int charrnn_format_double(char *buffer, unsigned long capacity, const char *pattern, double value) {
    return snprintf(buffer, capacity, pattern, value);
}
