// Matrix-vector products for batch-1 inference (sampling and scoring), where
// each weight is read once per symbol, so the speed is the speed of streaming
// the weights. W^T (K, N) is repacked into panels of 64 columns, each panel
// (K, 64) contiguous and zero-padded: a product reads memory strictly in
// order, and keeps the panel's 64 outputs in 8 SIMD8 accumulators with one
// FMA per input per vector. Panels are independent, so two threads can split
// them without changing any result.

/// W^T (K, N) in 64-column panels for gemv.
public final class PackedGEMVMatrix: @unchecked Sendable {
    public let k: Int
    public let n: Int
    public static let panelWidth = 64
    public var panelCount: Int { (n + Self.panelWidth - 1) / Self.panelWidth }
    let storage: FloatBuffer

    /// Packs the row-major (K, N) matrix `wT`.
    public init(k: Int, n: Int, wT: UnsafePointer<Float>) {
        self.k = k
        self.n = n
        let width = Self.panelWidth
        let panels = (n + width - 1) / width
        storage = FloatBuffer(count: panels * k * width)
        for panel in 0..<panels {
            let first = panel * width, columns = min(width, n - first)
            let base = storage.pointer + panel * k * width
            for row in 0..<k {
                (base + row * width).update(from: wT + row * n + first, count: columns)
            }
        }
    }

    /// Packs W (N, K) given row-major, i.e. reads it transposed.
    public convenience init(transposing w: UnsafePointer<Float>, rows n: Int, columns k: Int) {
        let wT = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * n))
        defer { wT.deallocate() }
        for row in 0..<n {
            for column in 0..<k { wT[column * n + row] = w[row * k + column] }
        }
        self.init(k: k, n: n, wT: wT)
    }

    /// y[panels] (N) = (accumulate ? y : 0) + x (K) W^T, for the panels in `panels`.
    public func multiply(
        _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, accumulate: Bool,
        panels: Range<Int>? = nil
    ) {
        let width = Self.panelWidth
        for panel in panels ?? 0..<panelCount {
            let first = panel * width
            let columns = min(width, n - first)
            var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
            var a4 = SIMD8<Float>(), a5 = SIMD8<Float>(), a6 = SIMD8<Float>(), a7 = SIMD8<Float>()
            var row = UnsafePointer(storage.pointer + panel * k * width)
            for i in 0..<k {
                let xi = SIMD8<Float>(repeating: x[i])
                a0 = a0.addingProduct(xi, load8(row)); a1 = a1.addingProduct(xi, load8(row + 8))
                a2 = a2.addingProduct(xi, load8(row + 16)); a3 = a3.addingProduct(xi, load8(row + 24))
                a4 = a4.addingProduct(xi, load8(row + 32)); a5 = a5.addingProduct(xi, load8(row + 40))
                a6 = a6.addingProduct(xi, load8(row + 48)); a7 = a7.addingProduct(xi, load8(row + 56))
                row += width
            }
            let out = y + first
            if columns == width {
                if accumulate {
                    a0 += load8(out); a1 += load8(out + 8); a2 += load8(out + 16); a3 += load8(out + 24)
                    a4 += load8(out + 32); a5 += load8(out + 40); a6 += load8(out + 48); a7 += load8(out + 56)
                }
                store8(a0, out); store8(a1, out + 8); store8(a2, out + 16); store8(a3, out + 24)
                store8(a4, out + 32); store8(a5, out + 40); store8(a6, out + 48); store8(a7, out + 56)
            } else {
                // The last panel: its columns past n are partial blocks or absent.
                for (index, value) in [a0, a1, a2, a3, a4, a5, a6, a7].enumerated() where index * 8 < columns {
                    let lanes = min(8, columns - index * 8)
                    let result = accumulate ? value + load8(out + index * 8, count: lanes) : value
                    store8(result, out + index * 8, count: lanes)
                }
            }
        }
    }
}
