// Weights rounded to float16 for sampling-only files (charrnn-convert
// --strip-optimizer --half). The file stays float32, as the format has it, so
// every reader and tool takes it unchanged; a rounded weight has 13 zero low
// mantissa bits, which zlib compresses away: measured on the 12-minute
// recipe's mLSTM 384,384, 8.78 MB stripped became 5.57 MB, and the score of
// the held-out tenth of tinyshakespeare moved by 4e-6 nats/char
// (docs/partial-epochs.md). Storing true float16 would save another 15%,
// not worth a format revision.

/// A weight float16 cannot hold.
public struct HalfPrecisionError: Error, Equatable, CustomStringConvertible {
    public let tensor: String
    public let index: Int
    public let value: Float

    public var description: String {
        "\(tensor)[\(index)] is \(value), beyond float16's range (±65504)"
    }
}

public enum HalfPrecision {
    /// The largest finite float16.
    public static let largest: Float = 65504

    /// The float16 nearest to `value` (ties to even), as a Float: exact in both.
    public static func rounded(_ value: Float) -> Float { float(fromBits: WebPage.halfBits(value)) }

    /// The Float of float16 bits.
    public static func float(fromBits bits: UInt16) -> Float {
        let sign: UInt32 = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F), mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        if exponent == 0 {
            // Subnormal (or zero): mantissa x 2^-24, exact in a Float.
            let magnitude = Float(mantissa) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | mantissa << 13)
    }
}

extension Model {
    /// This model with every weight rounded to the nearest float16 (kept as Float);
    /// throws for a weight beyond float16's range, which would become infinite.
    public func roundedToHalfPrecision() throws -> Model {
        var rounded = self
        for tensor in layout.tensors {
            for index in tensor.range {
                let value = parameters[index]
                guard !(abs(value) > HalfPrecision.largest) else {
                    throw HalfPrecisionError(tensor: tensor.name, index: index - tensor.offset, value: value)
                }
                rounded.parameters[index] = HalfPrecision.rounded(value)
            }
        }
        return rounded
    }
}
