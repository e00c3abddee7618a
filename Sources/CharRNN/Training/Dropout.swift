// Inverted dropout on the outputs of each recurrent layer (Zaremba, Sutskever
// and Vinyals, 2014): between layers and before the Dense layer, never on the
// recurrent connections, and only while training. A kept unit is scaled by
// 1 / (1 - p), so validation, scoring and sampling use the weights as they are.
//
// The masks come from a counter-based generator, so each one is a pure
// function of where it applies: the model's seed, the epoch, the sequence
// (optimizer step) within the epoch, the layer, the time step, the global
// batch row and the unit. No generator state is carried between steps, so one
// thread or two, and a run resumed from a checkpoint, draw the same masks as
// an unbroken run. formats/checkpoint.md §4.5 specifies it:
//
//   mix64(z)   = SplitMix64's finaliser:  z ^= z >> 30; z *= 0xBF58476D1CE4E5B9;
//                z ^= z >> 27; z *= 0x94D049BB133111EB; z ^= z >> 31
//   fmix32(h)  = MurmurHash3's finaliser: h ^= h >> 16; h *= 0x85EBCA6B;
//                h ^= h >> 13; h *= 0xC2B2AE35; h ^= h >> 16
//   stream     = mix64(mix64(mix64(mix64(seed) ^ epoch) ^ sequence) ^ layer)
//                (sequence and layer count from 0, epoch from 1)
//   position   = mix64(stream ^ (t * rows + row))          (t within the sequence)
//   bits(unit) = fmix32(fmix32(unit ^ low32(position)) ^ high32(position))
//   keep unit  iff  bits >> 8  >=  threshold = ceil(p * 2^24)
//
// A kept unit's factor is float32(1 / (1 - p)), a dropped one's 0. All
// arithmetic is mod 2^64 (or 2^32 in fmix32). The other regularisers'
// masks (Regularisation.swift) use key = mix64(stream ^ kind) for the stream
// and take the positions of step 0 (t = 0) for every step.

/// Where a sequence's dropout masks come from.
public struct DropoutMasks: Sendable, Equatable {
    /// The probability of dropping a unit, 0 ..< 1.
    public let probability: Double
    public let seed: UInt64
    /// The epoch being trained (1 for a run's first).
    public let epoch: UInt64

    public init(probability: Double, seed: UInt64, epoch: UInt64) {
        precondition(probability >= 0 && probability < 1)
        self.probability = probability
        self.seed = seed
        self.epoch = epoch
    }

    /// ceil(p * 2^24): a unit is kept when its 24 random bits are at least this.
    public var threshold: UInt32 { UInt32((probability * 16_777_216).rounded(.up)) }

    /// The factor of a kept unit.
    public var scale: Float { Float(1 / (1 - probability)) }

    @inline(__always)
    static func mix64(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    static func fmix32(_ value: SIMD8<UInt32>) -> SIMD8<UInt32> {
        var h = value
        h ^= h &>> 16
        h &*= 0x85EB_CA6B
        h ^= h &>> 13
        h &*= 0xC2B2_AE35
        h ^= h &>> 16
        return h
    }

    /// The same masks' key with another probability (another regulariser's).
    public func with(probability: Double) -> DropoutMasks {
        DropoutMasks(probability: probability, seed: seed, epoch: epoch)
    }

    /// The key of one layer's masks in one sequence.
    public func stream(sequence: Int, layer: Int) -> UInt64 {
        Self.mix64(Self.mix64(Self.mix64(Self.mix64(seed) ^ epoch) ^ UInt64(sequence)) ^ UInt64(layer))
    }

    /// What a mask is drawn for. `dropout`'s per-step masks use the stream as it
    /// is; every other kind keys its masks by mix64(stream ^ kind), so no two
    /// kinds share bits (Regularisation.swift).
    public enum Kind: UInt64, Sendable {
        /// `dropout`: each recurrent layer's outputs, one mask per time step.
        case outputs = 0
        /// `locked_dropout`: each recurrent layer's outputs, one mask for all the sequence's steps.
        case lockedOutputs = 1
        /// `input_dropout`: the one-hot input (a row's symbol), one mask for all the sequence's steps (layer 0).
        case input = 2
        /// `weight_drop`: the elements of a layer's recurrent matrices, one mask for all rows and steps.
        case recurrentWeights = 3
    }

    /// The key of one kind of mask of one layer in one sequence.
    public func key(_ kind: Kind, sequence: Int, layer: Int) -> UInt64 {
        let stream = stream(sequence: sequence, layer: layer)
        return kind == .outputs ? stream : Self.mix64(stream ^ kind.rawValue)
    }

    /// Fills `mask` (steps x rows.count x hidden, t-major; step blocks `stepStride`
    /// floats apart, rows.count x hidden by default) with each unit's factor for
    /// the batch rows `rows` of a batch of `totalRows` rows.
    public func fill(
        _ mask: UnsafeMutablePointer<Float>, sequence: Int, layer: Int, steps: Int,
        rows: Range<Int>, totalRows: Int, hidden: Int, stepStride: Int? = nil
    ) {
        fill(
            mask, key: stream(sequence: sequence, layer: layer), steps: steps, rows: rows, totalRows: totalRows,
            hidden: hidden, stepStride: stepStride)
    }

    /// Fills `mask` (rows.count x units) with one factor per (row, unit), the
    /// same for every step of the sequence: the positions are those of step 0.
    public func fillLocked(
        _ mask: UnsafeMutablePointer<Float>, kind: Kind, sequence: Int, layer: Int, rows: Range<Int>, units: Int
    ) {
        fill(mask, key: key(kind, sequence: sequence, layer: layer), steps: 1, rows: rows, totalRows: 0, hidden: units)
    }

    func fill(
        _ mask: UnsafeMutablePointer<Float>, key: UInt64, steps: Int,
        rows: Range<Int>, totalRows: Int, hidden: Int, stepStride: Int? = nil
    ) {
        let stepStride = stepStride ?? rows.count * hidden
        let threshold = SIMD8<UInt32>(repeating: threshold)
        let kept = SIMD8<Float>(repeating: scale)
        let lanes = SIMD8<UInt32>(0, 1, 2, 3, 4, 5, 6, 7)
        for t in 0..<steps {
            var out = mask + t * stepStride
            for row in rows {
                let position = Self.mix64(key ^ UInt64(t * totalRows + row))
                let low = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: position))
                let high = SIMD8<UInt32>(repeating: UInt32(truncatingIfNeeded: position >> 32))
                forEachBlock(hidden) { j, n in
                    let units = lanes &+ UInt32(truncatingIfNeeded: j)
                    let bits = Self.fmix32(Self.fmix32(units ^ low) ^ high)
                    let factors = SIMD8<Float>(repeating: 0).replacing(with: kept, where: (bits &>> 8) .>= threshold)
                    store8(factors, out + j, count: n)
                }
                out += hidden
            }
        }
    }
}
