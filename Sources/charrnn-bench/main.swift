// charrnn-bench: the kernel-level benchmark. GFLOP/s of gemm(...) (fast) and
// gemmReference(...) (naive) on charrnn's production shapes, single-threaded,
// plus the machine's FMA peak (one core, two threads and every core at once) for scale,
// and the two-worker rate of the per-step shapes. scripts/bench calls it with
// --peak for the peak that its end-to-end table divides by.
//
//   swift build -c release && .build/release/charrnn-bench
//       [--peak] [--quick] [--no-naive] [--no-workers] [--only=SUBSTRING]
//   CHARRNN_SIMD=avx2 .build/release/charrnn-bench ...   (the AVX2 kernels on an AVX-512 CPU)
//   .build/release/charrnn-bench --denormal [--quick]   (an epoch, denormals flushed vs kept)
//   .build/release/charrnn-bench --vmath-exhaustive [--stride=N]
//       (vexp, vsigmoid, vtanh, vlog over all 2^32 Floats: VectorMathExhaustive.swift;
//        scripts/vmath-exhaustive; --stride=N takes every N-th input, a quick check only)
//
// Rates are taken from the thread's CPU time (best of 15 trials), which a
// compile running on the other core or time-sharing ours does not inflate;
// the wall-clock median is printed beside it. On this 2-core VM the large
// shapes that stream from L3 still vary by 10-20% with the neighbours' load.

import CharRNN
import CharRNNTestSupport
import Foundation

// MARK: - Shapes

struct Shape {
    let name: String
    let transA: Transpose
    let transB: Transpose
    let m: Int, n: Int, k: Int
    let accumulate: Bool
    /// B packed once (PackedMatrix), as for weights reused over time steps.
    let packed: Bool

    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
    /// Rows and columns of A and B as stored.
    var aRows: Int { transA == .none ? m : k }
    var aColumns: Int { transA == .none ? k : m }
    var bRows: Int { transB == .none ? k : n }
    var bColumns: Int { transB == .none ? n : k }
}

// Per-step shapes have M = 25: the batch of 50 rows split over 2 workers.
let shapes: [Shape] = [
    Shape(name: "step fwd LSTM128  25x512  k128  B=W^T", transA: .none, transB: .transposed, m: 25, n: 512, k: 128, accumulate: true, packed: true),
    Shape(name: "step fwd GRU128   25x384  k128  B=W^T", transA: .none, transB: .transposed, m: 25, n: 384, k: 128, accumulate: true, packed: true),
    Shape(name: "step fwd RNN256   25x256  k256  B=W^T", transA: .none, transB: .transposed, m: 25, n: 256, k: 256, accumulate: true, packed: true),
    Shape(name: "step fwd LSTM512  25x2048 k512  B=W^T", transA: .none, transB: .transposed, m: 25, n: 2048, k: 512, accumulate: true, packed: true),
    Shape(name: "step bwd LSTM128  25x128  k512  B=W", transA: .none, transB: .none, m: 25, n: 128, k: 512, accumulate: false, packed: true),
    Shape(name: "step bwd LSTM512  25x512  k2048 B=W", transA: .none, transB: .none, m: 25, n: 512, k: 2048, accumulate: false, packed: true),
    Shape(
        name: "seq  fwd          1250x512 k128 B=W^T", transA: .none, transB: .transposed, m: 1250, n: 512, k: 128, accumulate: false, packed: false),
    Shape(name: "seq  dW     A^T B 512x128 k1250", transA: .transposed, transB: .none, m: 512, n: 128, k: 1250, accumulate: true, packed: false),
    Shape(
        name: "seq  out          1250x66 k128  B=W^T", transA: .none, transB: .transposed, m: 1250, n: 66, k: 128, accumulate: false, packed: false),
    Shape(name: "seq  dWout  A^T B 66x128 k1250", transA: .transposed, transB: .none, m: 66, n: 128, k: 1250, accumulate: true, packed: false),
    Shape(name: "seq  dH           1250x128 k66  B=W", transA: .none, transB: .none, m: 1250, n: 128, k: 66, accumulate: false, packed: false),
    // LSTM 512 whole-sequence products (B larger than L2: column blocks of 512).
    Shape(
        name: "seq  fwd LSTM512  1250x2048 k512 B=W^T", transA: .none, transB: .transposed, m: 1250, n: 2048, k: 512, accumulate: false, packed: false
    ),
    Shape(
        name: "seq  dW  LSTM512 A^T B 2048x512 k1250", transA: .transposed, transB: .none, m: 2048, n: 512, k: 1250, accumulate: true, packed: false),
]

// MARK: - Timing

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// CPU time of the calling thread: unlike wall time it does not count the
/// time another process (a compile on this 2-core machine) holds our core.
func threadCPUTime() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

struct Rate {
    /// Best trial by thread CPU time: the kernel's speed when it has the core.
    var best: Double
    /// Median trial by thread CPU time.
    var median: Double
    /// Median trial by wall time (lower than the others when the machine is busy).
    var wallMedian: Double
}

/// GFLOP/s over `trials` trials of `calls` calls each (after one warm-up call).
func measure(flopsPerCall: Double, seconds: Double, trials: Int = 15, _ body: () -> Void) -> Rate {
    body()
    let start = threadCPUTime()
    body()
    let once = max(threadCPUTime() - start, 1e-7)
    let calls = max(1, Int(seconds / Double(trials) / once))
    var cpuRates: [Double] = [], wallRates: [Double] = []
    for _ in 0..<trials {
        let (cpu0, wall0) = (threadCPUTime(), now())
        for _ in 0..<calls { body() }
        let (cpu1, wall1) = (threadCPUTime(), now())
        cpuRates.append(flopsPerCall * Double(calls) / (cpu1 - cpu0) / 1e9)
        wallRates.append(flopsPerCall * Double(calls) / (wall1 - wall0) / 1e9)
    }
    cpuRates.sort()
    wallRates.sort()
    return Rate(best: cpuRates[trials - 1], median: cpuRates[trials / 2], wallMedian: wallRates[trials / 2])
}

func randomMatrix(_ count: Int, seed: inout UInt64) -> UnsafeMutablePointer<Float> {
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
    for i in 0..<count {
        seed = seed &* 6364136223846793005 &+ 1442695040888963407
        p[i] = Float(Int32(truncatingIfNeeded: seed >> 32)) / Float(Int32.max) * 0.5
    }
    return p
}

// MARK: - Peak

/// One core's FMA throughput: 12 independent SIMD8 FMA chains, no memory traffic.
@inline(never)
func fmaPeakLoop(_ iterations: Int, _ x: SIMD8<Float>, _ y: SIMD8<Float>) -> SIMD8<Float> {
    var a0 = x, a1 = x + 1, a2 = x + 2, a3 = x + 3, a4 = x + 4, a5 = x + 5
    var a6 = x + 6, a7 = x + 7, a8 = x + 8, a9 = x + 9, a10 = x + 10, a11 = x + 11
    for _ in 0..<iterations {
        a0 = a0.addingProduct(x, y); a1 = a1.addingProduct(x, y); a2 = a2.addingProduct(x, y)
        a3 = a3.addingProduct(x, y); a4 = a4.addingProduct(x, y); a5 = a5.addingProduct(x, y)
        a6 = a6.addingProduct(x, y); a7 = a7.addingProduct(x, y); a8 = a8.addingProduct(x, y)
        a9 = a9.addingProduct(x, y); a10 = a10.addingProduct(x, y); a11 = a11.addingProduct(x, y)
    }
    return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11
}

// MARK: - Main

let arguments = CommandLine.arguments
let quick = arguments.contains("--quick")
let runNaive = !arguments.contains("--no-naive")
let seconds = quick ? 0.3 : 1.0
let filter = arguments.first { $0.hasPrefix("--only=") }.map { String($0.dropFirst(7)) }
let runWorkers = !arguments.contains("--no-workers")
print(
    "load average at start:",
    (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.split(separator: " ").prefix(3).joined(separator: " ") ?? "?")

if arguments.contains("--vmath-exhaustive") {
    let step = arguments.first { $0.hasPrefix("--stride=") }.flatMap { Int($0.dropFirst(9)) } ?? 1
    guard step >= 1 else { fatalError("--stride=N needs N >= 1") }
    runVectorMathExhaustive(stride: step)
    exit(0)
}

if arguments.contains("--pool") {
    // Fork/join latency of the worker pool: an empty job on two threads.
    let pool = WorkerPool(threads: 2)
    for round in 0..<3 {
        let calls = 200_000
        let t0 = now()
        for _ in 0..<calls { pool.run(count: 2) { _ in } }
        print("round \(round): \(String(format: "%.2f", (now() - t0) / Double(calls) * 1e6)) us per fork/join")
    }
    exit(0)
}

if let option = arguments.first(where: { $0.hasPrefix("--simulate-threads=") }) {
    // A machine with more cores than this one, simulated: the trainer cuts each
    // sequence's work as for N threads (the same bytes), runs the parts one after
    // another on one thread and times each; the slowest part of each phase is what
    // N cores would wait for. Predicted time = the measured serial rest (loading,
    // loss sums, ADAM, repacking) + the critical path; memory bandwidth shared by
    // N cores and the fork/join hand-offs are not in it.
    //   charrnn-bench --simulate-threads=16 [--hidden=512,512] [--rows=50] [--quick]
    let parts = Int(option.dropFirst("--simulate-threads=".count)) ?? 0
    guard parts >= 1 else { fatalError("--simulate-threads=N needs N >= 1") }
    let hidden =
        arguments.first { $0.hasPrefix("--hidden=") }
        .map { $0.dropFirst(9).split(separator: ",").compactMap { Int($0) } } ?? [128, 128]
    let config = ModelConfig(cell: .lstm, hiddenSizes: hidden, alphabetSize: 65, seed: 1)
    var random = Xoshiro256(seed: 7)
    let length =
        (quick ? 50_000 : 200_000) * 128 / max(128, hidden[0])
        * max(1, (arguments.first { $0.hasPrefix("--rows=") }.flatMap { Int($0.dropFirst(7)) } ?? 50) / 50)
    let text = (0..<length).map { _ in UInt16(random.nextIndex(below: 64)) }
    let rows = arguments.first { $0.hasPrefix("--rows=") }.flatMap { Int($0.dropFirst(7)) } ?? 50
    let settings = TrainingSettings(sequenceLength: 50, batchRows: rows, validationFraction: 0, clipNorm: 5)
    print(
        "LSTM \(hidden.map(String.init).joined(separator: ",")), \(length) chars, \(rows) rows x 50 steps, on one thread (CPU seconds)")
    print("split  measured s   work s  critical s  serial s  predicted s  speedup  efficiency")
    var one = 0.0
    for split in Array(Set([parts] + (0..<7).map { 1 << $0 }.filter { $0 <= parts })).sorted() {
        let model = Model(initialising: config)
        let trainer = Trainer(
            model: model, optimizer: AdamState(parameterCount: model.layout.parameterCount), threads: 1, splitFor: split)
        let times = trainer.measurePhases()
        let start = threadCPUTime()
        _ = try text.withUnsafeBufferPointer {
            try trainer.trainEpoch($0, settings: settings, stop: 64, learningRate: 0.002)
        }
        let measured = threadCPUTime() - start
        let serial = measured - times.workSeconds
        let predicted = serial + times.criticalPathSeconds
        if split == 1 { one = measured }
        print(
            String(
                format: "%5d  %10.2f  %7.2f  %10.2f  %8.2f  %11.2f  %6.2fx  %9.0f%%", split, measured,
                times.workSeconds, times.criticalPathSeconds, serial, predicted, one / predicted,
                100 * one / predicted / Double(split)))
    }
    exit(0)
}

if arguments.contains("--denormal") {
    // What flushing denormals saves: one training epoch of RNN 256,256 whose
    // activations live in the denormal range (layer 1's input weights scaled by
    // 1e-38, recurrent biases 0, so every h is ~1e-39 and so are the products
    // in the forward GEMMs and in dW), with flush-to-zero on (as charrnn
    // trains) and off (CHARRNN_NO_FTZ=1). The learning rate, 1e-42, is so small
    // that the weights stay where they are for the whole epoch.
    let config = ModelConfig(cell: .rnn, hiddenSizes: [256, 256], alphabetSize: 65, seed: 1)
    var model = Model(initialising: config)
    let (wi, b1) = (model.layout.layers[0].input, model.layout.layers[0].bias)
    let b2 = model.layout.layers[1].bias
    for index in wi.range { model.parameters[index] *= 1e-38 }
    for index in Array(b1.range) + Array(b2.range) { model.parameters[index] = 0 }
    var random = Xoshiro256(seed: 7)
    let text = (0..<(quick ? 30_000 : 100_000)).map { _ in UInt16(random.nextIndex(below: 64)) }
    let settings = TrainingSettings(sequenceLength: 50, batchRows: 50, validationFraction: 0, clipNorm: 5)
    for round in 0..<2 {
        for flush in [true, false] {
            if flush { unsetenv("CHARRNN_NO_FTZ") } else { setenv("CHARRNN_NO_FTZ", "1", 1) }
            let trainer = Trainer(model: model, optimizer: AdamState(parameterCount: model.layout.parameterCount), threads: 2)
            let statistics = try text.withUnsafeBufferPointer {
                try trainer.trainEpoch($0, settings: settings, stop: 64, learningRate: 1e-42)
            }
            print(
                "round \(round) denormals \(flush ? "flushed (FTZ+DAZ)" : "kept (CHARRNN_NO_FTZ=1)"):",
                String(format: "%9.0f chars/s  %.2f s  loss %.4f", statistics.charsPerSecond, statistics.seconds, statistics.meanLoss))
        }
    }
    exit(0)
}

let x = SIMD8<Float>(repeating: Float(arguments.count) * 1e-7)
let iterations = 20_000_000
var sink = SIMD8<Float>()
let peakRate = measure(flopsPerCall: Double(iterations) * 12 * 16, seconds: seconds, trials: 3) {
    sink += fmaPeakLoop(iterations, x, SIMD8(repeating: 1))
}
print("one-core FMA peak (12 SIMD8 chains): \(String(format: "%.1f", peakRate.best)) GFLOP/s")

/// `threads` threads at once, each running the peak loop (wall time): the
/// machine's FMA peak on that many cores.
func threadPeak(_ threads: Int) -> Double {
    var best = 0.0
    for _ in 0..<3 {
        let group = DispatchGroup()
        let t0 = now()
        for _ in 0..<threads {
            group.enter()
            Thread.detachNewThread {
                let value = fmaPeakLoop(iterations, x, SIMD8(repeating: 1))
                if value[0] == 42 { print("") }
                group.leave()
            }
        }
        group.wait()
        best = max(best, Double(threads) * Double(iterations) * 12 * 16 / (now() - t0) / 1e9)
    }
    return best
}
let twoPeak = threadPeak(2)
let allCores = SystemInfo.processorCount
let allPeak = allCores == 2 ? twoPeak : threadPeak(allCores)
print("two-thread FMA peak: \(String(format: "%.1f", twoPeak)) GFLOP/s")
print("all-core FMA peak (\(allCores) threads): \(String(format: "%.1f", allPeak)) GFLOP/s")
if arguments.contains("--peak") {
    let caches = CacheSizes.ofThisMachine
    print(
        "peak_gflops_one_core=\(String(format: "%.1f", peakRate.best)) peak_gflops_two_threads=\(String(format: "%.1f", twoPeak))"
            + " peak_gflops_all_cores=\(String(format: "%.1f", allPeak)) cores=\(allCores)"
            + " l1d=\(caches.level1Data) l2=\(caches.level2) caches_known=\(caches.known) blocking=\"\(GEMMBlocking.forThisMachine)\"")
    exit(0)
}
print("")
print(
    "gemm kernels: \(GEMMWorkspace.Kernel.preferred.rawValue)"
        + " (AVX-512F \(GEMMWorkspace.Kernel.avx512.isSupported ? "available" : "not available");"
        + " CHARRNN_SIMD=avx2 forces the AVX2 kernels)")
print("GFLOP/s by thread CPU time (best and median of 15 trials), wall-clock median, % of the peak above")
print("shape                                          path      best  median   wall  %peak(best)  naive")

var seed: UInt64 = 42
for shape in shapes where filter.map({ shape.name.contains($0) }) ?? true {
    let lda = shape.aColumns, ldb = shape.bColumns, ldc = shape.n
    let a = randomMatrix(shape.aRows * lda, seed: &seed)
    let b = randomMatrix(shape.bRows * ldb, seed: &seed)
    let c = randomMatrix(shape.m * ldc, seed: &seed)
    let workspace = GEMMWorkspace()
    let packedB = PackedMatrix(shape.transB, k: shape.k, n: shape.n, b: b, ldb: ldb)

    let fast: Rate
    if shape.packed {
        fast = measure(flopsPerCall: shape.flops, seconds: seconds) {
            gemm(
                shape.transA, m: shape.m, a: a, lda: lda, packed: packedB,
                c: c, ldc: ldc, accumulate: shape.accumulate, workspace: workspace)
        }
    } else {
        fast = measure(flopsPerCall: shape.flops, seconds: seconds) {
            gemm(
                shape.transA, shape.transB, m: shape.m, n: shape.n, k: shape.k, a: a, lda: lda, b: b, ldb: ldb,
                c: c, ldc: ldc, accumulate: shape.accumulate, workspace: workspace)
        }
    }
    var naiveText = "-"
    if runNaive {
        let naive = measure(flopsPerCall: shape.flops, seconds: seconds / 2, trials: 3) {
            gemmReference(
                shape.transA, shape.transB, m: shape.m, n: shape.n, k: shape.k, a: a, lda: lda, b: b, ldb: ldb,
                c: c, ldc: ldc, accumulate: shape.accumulate)
        }
        naiveText = String(format: "%.2f", naive.best)
    }
    print(
        shape.name.padding(toLength: 46, withPad: " ", startingAt: 0),
        (shape.packed ? "packed  " : "unpacked"),
        String(format: "%6.1f %6.1f %6.1f", fast.best, fast.median, fast.wallMedian),
        String(format: "   %5.1f%%", 100 * fast.best / peakRate.best),
        "  " + naiveText)
    a.deallocate(); b.deallocate(); c.deallocate()
}

// Packing B once per weight update (PackedMatrix.repack), against one
// gemm call on the packed matrix with M = 25.
print("")
print("repack cost per weight update (single thread):")
for shape in shapes where shape.packed && (filter.map({ shape.name.contains($0) }) ?? true) {
    let ldb = shape.bColumns
    let b = randomMatrix(shape.bRows * ldb, seed: &seed)
    let packedB = PackedMatrix(shape.transB, k: shape.k, n: shape.n, b: b, ldb: ldb)
    let floats = Double(shape.k * shape.n)
    // Rate in "GFLOP/s" with 1 flop per float is floats per nanosecond.
    let rate = measure(flopsPerCall: floats, seconds: seconds / 2, trials: 5) {
        packedB.repack(shape.transB, b: b, ldb: ldb)
    }
    let microseconds = floats / rate.best / 1e3
    let gemmMicroseconds = shape.flops / 1e3 / 100  // at ~100 GFLOP/s
    print(
        shape.name.padding(toLength: 46, withPad: " ", startingAt: 0),
        String(
            format: "%8.1f us  (%.2f floats/ns; one M = 25 gemm at 100 GFLOP/s takes %.1f us)",
            microseconds, rate.best, gemmMicroseconds))
    b.deallocate()
}

// Per-step shapes as production runs them: two workers, each with its own
// 25 rows, C and workspace, sharing one PackedMatrix.
print("")
print("two workers sharing one PackedMatrix (each M = 25), total GFLOP/s:")
for shape in shapes where shape.packed && runWorkers && (filter.map({ shape.name.contains($0) }) ?? true) {
    let lda = shape.aColumns, ldb = shape.bColumns, ldc = shape.n
    let b = randomMatrix(shape.bRows * ldb, seed: &seed)
    let packedB = PackedMatrix(shape.transB, k: shape.k, n: shape.n, b: b, ldb: ldb)
    let calls = max(1, Int(2e9 * (quick ? 0.3 : 1.0) / shape.flops))
    var elapsed: [Double] = []
    for _ in 0..<5 {
        let group = DispatchGroup()
        let t0 = now()
        for _ in 0..<2 {
            let a = randomMatrix(shape.aRows * lda, seed: &seed)
            let c = randomMatrix(shape.m * ldc, seed: &seed)
            let workspace = GEMMWorkspace()
            nonisolated(unsafe) let (a2, c2) = (a, c)
            group.enter()
            Thread.detachNewThread {
                for _ in 0..<calls {
                    gemm(
                        shape.transA, m: shape.m, a: a2, lda: lda, packed: packedB,
                        c: c2, ldc: ldc, accumulate: shape.accumulate, workspace: workspace)
                }
                a2.deallocate(); c2.deallocate()
                group.leave()
            }
        }
        group.wait()
        elapsed.append(now() - t0)
    }
    elapsed.sort()
    print(
        shape.name.padding(toLength: 46, withPad: " ", startingAt: 0),
        String(format: "%8.1f GFLOP/s", 2 * shape.flops * Double(calls) / elapsed[2] / 1e9))
    b.deallocate()
}
print("(sink \(sink[0] > 0))")
