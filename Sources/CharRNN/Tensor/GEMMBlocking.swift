// The GEMM's block sizes (GEMM.swift), from the data caches of the machine it
// runs on rather than tuned for one CPU. They decide only which elements are
// computed together, never the order of an element's fused multiply-adds, so
// every blocking gives the same bytes (GEMMTests forces several; a CLI test
// trains with CHARRNN_GEMM_BLOCKING set and compares the checkpoints).
//
// The rules (kc = a k-block, mc = rows of op(A) per block, nc = columns of
// op(B) packed at once on the unpacked path; floats are 4 bytes):
//   kc        one B panel, kc x 16 floats, in half of L1d: kc = L1d / 128
//             (32 KB: 256; 48 KB: 384).
//   packed kc op(B) packed whole, so a block buys no cache fit, while each more
//             k-block is one more pass over C: twice kc (measured on Zen 4 with
//             LSTM 512: 512 was 5% faster than 256).
//   mc        an A block, mc x packed kc floats, in a quarter of L2
//             (1 MB: 125; 512 KB: 60); 30-240 measured alike on Zen 4.
//   nc        a packed B block, kc x nc floats, in half of L2 (1 MB: 512; 512 KB: 256).
// Each is kept within [16, 1024], mc a multiple of 5 and nc of 16.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Block sizes of the GEMM.
public struct GEMMBlocking: Equatable, Sendable, CustomStringConvertible {
    /// Largest k-block on the unpacked path.
    public var unpackedDepth: Int
    /// Largest k-block on the packed path (PackedMatrix).
    public var packedDepth: Int
    /// Largest block of op(A) rows per pass over B.
    public var blockRows: Int
    /// Largest block of op(B) columns packed at once on the unpacked path.
    public var blockColumns: Int

    public init(unpackedDepth: Int, packedDepth: Int, blockRows: Int, blockColumns: Int) {
        precondition(
            unpackedDepth >= 1 && packedDepth >= 1 && blockRows >= 1 && blockColumns >= 1,
            "GEMMBlocking: block sizes are at least 1")
        self.unpackedDepth = unpackedDepth
        self.packedDepth = packedDepth
        self.blockRows = blockRows
        self.blockColumns = blockColumns
    }

    /// The blocking for a level-1 data cache and a level-2 cache of these sizes (bytes).
    public init(level1DataBytes l1: Int, level2Bytes l2: Int) {
        func clamp(_ value: Int, multiple: Int) -> Int { max(16, min(1024, value)) / multiple * multiple }
        let depth = clamp(l1 / 128, multiple: 1)
        let packed = clamp(2 * depth, multiple: 1)
        self.init(
            unpackedDepth: depth, packedDepth: packed,
            blockRows: max(5, clamp(l2 / 4 / (packed * 4), multiple: 5)),
            blockColumns: max(16, clamp(l2 / 2 / (depth * 4), multiple: 16)))
    }

    /// "kc 256, packed kc 512, mc 125, nc 512".
    public var description: String {
        "kc \(unpackedDepth), packed kc \(packedDepth), mc \(blockRows), nc \(blockColumns)"
    }

    /// The blocking a new GEMMWorkspace takes: CHARRNN_GEMM_BLOCKING="kc,packed-kc,mc,nc"
    /// when set (each at least 1; for tests and measurements), else from this machine's caches.
    public static let forThisMachine: GEMMBlocking = {
        if let forced = getenv("CHARRNN_GEMM_BLOCKING").map({ String(cString: $0) }) {
            let values = forced.split(separator: ",").compactMap { Int($0.filter { $0 != " " }) }
            if values.count == 4, values.allSatisfy({ $0 >= 1 && $0 <= 1 << 20 }) {
                return GEMMBlocking(unpackedDepth: values[0], packedDepth: values[1], blockRows: values[2], blockColumns: values[3])
            }
        }
        let caches = CacheSizes.ofThisMachine
        return GEMMBlocking(level1DataBytes: caches.level1Data, level2Bytes: caches.level2)
    }()
}

/// Data cache sizes of one core, in bytes.
public struct CacheSizes: Equatable, Sendable {
    public var level1Data: Int
    public var level2: Int
    /// Whether they were read from the system, or assumed (32 KB, 512 KB).
    public var known: Bool

    /// From sysconf, else from /sys/devices/system/cpu/cpu0/cache, else the
    /// smallest of the common x86 cores (32 KB L1d, 512 KB L2).
    public static let ofThisMachine: CacheSizes = {
        var l1 = 0, l2 = 0
        #if os(Linux)
        l1 = sysconf(Int32(_SC_LEVEL1_DCACHE_SIZE))
        l2 = sysconf(Int32(_SC_LEVEL2_CACHE_SIZE))
        if l1 <= 0 || l2 <= 0 {
            for index in 0..<8 {
                let folder = "/sys/devices/system/cpu/cpu0/cache/index\(index)/"
                guard let level = readSmallFile(folder + "level"), let type = readSmallFile(folder + "type"),
                    let size = readSmallFile(folder + "size").flatMap(parseSize)
                else { continue }
                if level == "1", type == "Data" || type == "Unified" { l1 = size }
                if level == "2" { l2 = size }
            }
        }
        #endif
        if l1 > 0, l2 > 0 { return CacheSizes(level1Data: l1, level2: l2, known: true) }
        return CacheSizes(level1Data: 32 << 10, level2: 512 << 10, known: false)
    }()

    /// "48K" or "1024K" or "2M" as sysfs writes them.
    public static func parseSize(_ text: String) -> Int? {
        let unit: Int
        var digits = Substring(text)
        switch text.last {
        case "K": unit = 1 << 10; digits = digits.dropLast()
        case "M": unit = 1 << 20; digits = digits.dropLast()
        default: unit = 1
        }
        return Int(digits).map { $0 * unit }
    }

    /// The first word of a small file (a sysfs value such as "Data" or "48K").
    static func readSmallFile(_ path: String) -> String? {
        guard let file = try? InputFile(path: path) else { return nil }
        defer { file.close() }
        guard let bytes = try? file.readAll(limit: 4096) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace).first.map(String.init)
    }
}
