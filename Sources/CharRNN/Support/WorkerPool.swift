// Fork/join over a fixed number of persistent threads. Work items are dealt
// out statically (item i runs on thread i mod threadCount) and every item does
// the same work whichever thread runs it, so results never depend on timing.
//
// Hand-offs are lock-free while both sides are busy: the caller publishes a
// job by bumping `generation`, workers spin on it, and the caller spins on
// `finished`. Only a side that has spun for a while (about 0.1 ms) goes to
// sleep on a condition variable, and the other side wakes it; the flags are
// checked in the Dekker order (store mine, then load yours, both sequentially
// consistent), so no wake-up is lost. A fork/join costs well under a
// microsecond, which matters when sampling does three of them per symbol.
//
// Each worker sets flush-to-zero/denormals-are-zero once, as the training
// thread does (denormals made PyTorch 40x slower on some seeds).
//
// The workers never touch the pool object itself, only the state they share
// with it (`WorkerPoolState`), which they hold strongly: a pool may be
// released before a worker thread has even started (a short charrnn-sample
// on a busy machine), and its deinit then waits for that worker to start,
// see the shutdown and end.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCharRNNSupport
import Synchronization

public final class WorkerPool: @unchecked Sendable {
    public let threadCount: Int
    private var threads: [pthread_t] = []
    private let state: WorkerPoolState

    /// `threads` counts the caller: 1 means no extra threads.
    public init(threads: Int) {
        threadCount = max(1, threads)
        state = WorkerPoolState(threadCount: threadCount)
        for worker in 1..<threadCount {
            let context = Unmanaged.passRetained(WorkerContext(state: state, index: worker)).toOpaque()
            var thread = pthread_t()
            pthread_create(
                &thread, nil,
                { raw in
                    let context = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    _ = charrnn_enable_flush_denormals()
                    context.state.workerLoop(index: context.index)
                    return nil
                }, context)
            self.threads.append(thread)
        }
    }

    private final class WorkerContext {
        let state: WorkerPoolState
        let index: Int
        init(state: WorkerPoolState, index: Int) {
            self.state = state
            self.index = index
        }
    }

    deinit {
        state.shutDown()
        for thread in threads { pthread_join(thread, nil) }
    }

    /// Runs body(i) for every i in 0..<count and returns when all are done.
    public func run(count: Int, _ body: @escaping (Int) -> Void) {
        state.run(count: count, body)
    }
}

/// The hand-off between the caller and the workers; see the top of the file.
private final class WorkerPoolState: @unchecked Sendable {
    let threadCount: Int
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// The current job; written before `generation` is bumped, read after it is seen.
    private var job: ((Int) -> Void)?
    private var jobItems = 0
    private let generation = Atomic<Int>(0)
    /// Workers that finished the current generation.
    private let finished = Atomic<Int>(0)
    /// Workers asleep on `wake`, and whether the caller sleeps on `done`.
    private let sleepingWorkers = Atomic<Int>(0)
    private let callerSleeping = Atomic<Bool>(false)
    private let shuttingDown = Atomic<Bool>(false)
    private static let spinLimit = 100_000

    init(threadCount: Int) {
        self.threadCount = threadCount
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
    }

    /// Only once every worker and the pool have let go.
    deinit {
        pthread_mutex_destroy(mutex); mutex.deallocate()
        pthread_cond_destroy(wake); wake.deallocate()
        pthread_cond_destroy(done); done.deallocate()
    }

    /// Tells the workers to end, waking those asleep.
    func shutDown() {
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
    }

    func run(count: Int, _ body: @escaping (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for item in 0..<count { body(item) }
            return
        }
        job = body
        jobItems = count
        finished.store(0, ordering: .sequentiallyConsistent)
        generation.add(1, ordering: .sequentiallyConsistent)
        if sleepingWorkers.load(ordering: .sequentiallyConsistent) > 0 {
            pthread_mutex_lock(mutex)
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)
        }

        for item in stride(from: 0, to: count, by: threadCount) { body(item) }

        let workers = threadCount - 1
        var spins = 0
        while finished.load(ordering: .acquiring) < workers, spins < Self.spinLimit {
            charrnn_cpu_relax()
            spins += 1
        }
        if finished.load(ordering: .acquiring) < workers {
            pthread_mutex_lock(mutex)
            callerSleeping.store(true, ordering: .sequentiallyConsistent)
            while finished.load(ordering: .sequentiallyConsistent) < workers { pthread_cond_wait(done, mutex) }
            callerSleeping.store(false, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(mutex)
        }
    }

    func workerLoop(index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen, spins < Self.spinLimit {
                charrnn_cpu_relax()
                spins += 1
            }
            if generation.load(ordering: .acquiring) == seen {
                pthread_mutex_lock(mutex)
                sleepingWorkers.add(1, ordering: .sequentiallyConsistent)
                while generation.load(ordering: .sequentiallyConsistent) == seen { pthread_cond_wait(wake, mutex) }
                sleepingWorkers.subtract(1, ordering: .sequentiallyConsistent)
                pthread_mutex_unlock(mutex)
            }
            if shuttingDown.load(ordering: .acquiring) { return }
            seen = generation.load(ordering: .acquiring)
            let body = job!
            let count = jobItems
            for item in stride(from: index, to: count, by: threadCount) { body(item) }
            finished.add(1, ordering: .sequentiallyConsistent)
            if callerSleeping.load(ordering: .sequentiallyConsistent) {
                pthread_mutex_lock(mutex)
                pthread_cond_signal(done)
                pthread_mutex_unlock(mutex)
            }
        }
    }
}
