#include "charrnn_support.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
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

uint32_t charrnn_enable_flush_denormals(void) {
#if defined(__x86_64__) || defined(__i386__)
    uint32_t previous = _mm_getcsr();
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

// The handler may only touch this static buffer and call async-signal-safe
// functions (unlink, signal, raise).
static char cleanup_path[4096];
static volatile sig_atomic_t cleanup_armed = 0;
static volatile sig_atomic_t handlers_installed = 0;

static void cleanup_and_reraise(int sig) {
    if (cleanup_armed) {
        unlink(cleanup_path);
        cleanup_armed = 0;
    }
    // Die of the same signal, so the parent shell sees the usual status (130 for Ctrl-C).
    signal(sig, SIG_DFL);
    raise(sig);
}

int charrnn_cleanup_on_signal(const char *path) {
    size_t length = strlen(path);
    if (length >= sizeof cleanup_path) return -1;
    cleanup_armed = 0;
    memcpy(cleanup_path, path, length + 1);
    cleanup_armed = 1;
    if (!handlers_installed) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = cleanup_and_reraise;
        sigemptyset(&action.sa_mask);
        sigaction(SIGINT, &action, NULL);
        sigaction(SIGTERM, &action, NULL);
        sigaction(SIGHUP, &action, NULL);
        handlers_installed = 1;
    }
    return 0;
}

void charrnn_unblock_termination_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void charrnn_cleanup_clear(void) {
    cleanup_armed = 0;
}

uint64_t charrnn_physical_memory(void) {
    long pages = sysconf(_SC_PHYS_PAGES);
    long page_size = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page_size <= 0) return 0;
    return (uint64_t)pages * (uint64_t)page_size;
}
