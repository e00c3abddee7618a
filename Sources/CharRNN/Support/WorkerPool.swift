// Fork/join over a fixed number of persistent threads. Work items are dealt
// out statically (item i runs on thread i mod threadCount) and every item does
// the same work whichever thread runs it, so results never depend on timing.
// Each worker sets flush-to-zero/denormals-are-zero once, as the training
// thread does (denormals made PyTorch 40x slower on some seeds).

#if canImport(Glibc)
import Glibc
#endif
import CCharRNNSupport
import Synchronization

/// Runs `body(0..<count)` with items 0, T, 2T, ... on the caller and the rest on T-1 workers.
public final class WorkerPool: @unchecked Sendable {
    public let threadCount: Int
    private var threads: [pthread_t] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by mutex; published to workers through `generation`.
    private var job: ((Int) -> Void)?
    private var jobItems = 0
    private var shuttingDown = false
    /// Bumped once per run(); workers spin on it briefly before sleeping.
    private let generation = Atomic<Int>(0)
    /// Workers that finished the current generation.
    private let finished = Atomic<Int>(0)

    /// `threads` counts the caller: 1 means no extra threads.
    public init(threads: Int) {
        threadCount = max(1, threads)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for worker in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(pool: self, index: worker)).toOpaque()
            var thread = pthread_t()
            pthread_create(&thread, nil, { raw in
                let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                _ = charrnn_enable_flush_denormals()
                context.pool.workerLoop(index: context.index)
                return nil
            }, context)
            self.threads.append(thread)
        }
    }

    private final class WorkerContext {
        unowned let pool: WorkerPool
        let index: Int
        init(pool: WorkerPool, index: Int) {
            self.pool = pool
            self.index = index
        }
    }

    deinit {
        pthread_mutex_lock(mutex)
        shuttingDown = true
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for thread in threads { pthread_join(thread, nil) }
        pthread_mutex_destroy(mutex); mutex.deallocate()
        pthread_cond_destroy(wake); wake.deallocate()
        pthread_cond_destroy(done); done.deallocate()
    }

    /// Runs body(i) for every i in 0..<count and returns when all are done.
    public func run(count: Int, _ body: @escaping (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for item in 0..<count { body(item) }
            return
        }
        pthread_mutex_lock(mutex)
        job = body
        jobItems = count
        finished.store(0, ordering: .relaxed)
        generation.add(1, ordering: .releasing)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)

        for item in stride(from: 0, to: count, by: threadCount) { body(item) }

        let workers = threadCount - 1
        var spins = 0
        while finished.load(ordering: .acquiring) < workers, spins < 200_000 { spins += 1 }
        if finished.load(ordering: .acquiring) < workers {
            pthread_mutex_lock(mutex)
            while finished.load(ordering: .acquiring) < workers { pthread_cond_wait(done, mutex) }
            pthread_mutex_unlock(mutex)
        }
        pthread_mutex_lock(mutex)
        job = nil
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop(index: Int) {
        var seen = 0
        while true {
            // Spin a little: the next fork usually follows within microseconds.
            var spins = 0
            while generation.load(ordering: .acquiring) == seen, spins < 50_000 { spins += 1 }
            pthread_mutex_lock(mutex)
            while generation.load(ordering: .acquiring) == seen, !shuttingDown { pthread_cond_wait(wake, mutex) }
            if shuttingDown { pthread_mutex_unlock(mutex); return }
            seen = generation.load(ordering: .acquiring)
            let body = job!
            let count = jobItems
            pthread_mutex_unlock(mutex)
            for item in stride(from: index, to: count, by: threadCount) { body(item) }
            pthread_mutex_lock(mutex)
            finished.add(1, ordering: .releasing)
            pthread_cond_signal(done)
            pthread_mutex_unlock(mutex)
        }
    }
}
