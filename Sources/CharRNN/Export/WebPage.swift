// A model as one self-contained HTML page that samples in the browser
// (`charrnn-convert --to web`): the weights as base64 (float32, or float16
// with --half), the alphabet and the layout as JSON, and a small JavaScript
// forward pass for every cell (WebPage+Script.swift). No network, no build
// step; the page works from file://.
//
// Exactness (docs/deployment.md): the page ports charrnn-sample's generator
// (xoshiro256** seeded by SplitMix64, Random.swift) with BigInt, and the draw
// (Sampler.draw: the weights exp((z - max z) / T) through the same vexp
// polynomial, top-k, top-p, wsample) with Math.fround where Sampler uses
// Float. The forward pass runs in doubles over the float32 weights and
// rounds the logits to float32; charrnn's runs in float32 with fused
// multiply-adds in its own summation order. So the logits agree to float
// rounding, not bitwise: --temperature 0 gives the same text unless two
// leading logits are within that rounding, and the same seed at T > 0 gives
// the same text unless a draw's uniform lands within rounding of a boundary.
//
// Query parameters make the page run without a click and leave its result,
// as JSON, in <pre id="result"> (what the tests read with headless Chromium):
//   ?seed=7&temperature=0&length=500&prime=ROMEO:&top_k=&top_p=   sample
//   ?score=TEXT                                                  per-character nats

/// The page of a model.
public enum WebPage {
    public enum Precision: Sendable {
        case float32
        /// IEEE binary16, read back to float32 in the page: half the size, the weights
        /// rounded to 11 significant bits (docs/deployment.md gives what that costs).
        case float16
    }

    /// The whole page. `title` is shown as the page's heading (escaped here).
    public static func render(model: Model, alphabet: Alphabet, precision: Precision, title: String) -> String {
        let config = model.config
        var layers: [JSON] = []
        for layer in model.layout.layers {
            let prefix = "layer\(layer.index + 1)."
            let offsets = layer.tensors.map {
                (
                    $0.name.hasPrefix(prefix) ? String($0.name.dropFirst(prefix.count)) : $0.name,
                    JSON.int($0.offset)
                )
            }
            layers.append(
                .object([
                    ("input", .int(layer.inputSize)), ("hidden", .int(layer.hidden)),
                    ("tensors", .object(offsets)),
                ]))
        }
        let description =
            "\(config.cell) \(config.hiddenSizes.map(String.init).joined(separator: ",")), "
            + "\(model.layout.parameterCount) parameters, \(alphabet.count) symbols, "
            + (precision == .float32 ? "float32" : "float16") + " weights"
        let spec = JSON.object([
            ("cell", .string(config.cell.description)),
            ("symbols", .array(alphabet.symbols.map { .uint(UInt64($0)) })),
            ("stop", .int(alphabet.stopIndex)),
            ("layers", .array(layers)),
            ("dense", .object([("W", .int(model.layout.dense.w.offset)), ("b", .int(model.layout.dense.b.offset))])),
            ("parameters", .int(model.layout.parameterCount)),
            ("precision", .string(precision == .float32 ? "float32" : "float16")),
            ("description", .string(description)),
        ])
        var bytes: [UInt8] = []
        switch precision {
        case .float32:
            bytes.reserveCapacity(4 * model.parameters.count)
            for value in model.parameters {
                let bits = value.bitPattern
                bytes += [
                    UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8),
                    UInt8(truncatingIfNeeded: bits >> 16), UInt8(truncatingIfNeeded: bits >> 24),
                ]
            }
        case .float16:
            bytes.reserveCapacity(2 * model.parameters.count)
            for value in model.parameters {
                let bits = halfBits(value)
                bytes += [UInt8(truncatingIfNeeded: bits), UInt8(truncatingIfNeeded: bits >> 8)]
            }
        }
        // In a <script>, "</" would end it; JSON's "\/" means the same "/".
        let specText = spec.rendered().replacingAll("</", with: "<\\/")
        return page(title: escapeHTML(title), description: escapeHTML(description), spec: specText, weights: base64(bytes))
    }

    /// The binary16 bits of a float, rounded to nearest, ties to even (Float16 does that;
    /// it is spelt out here so the page's format does not depend on the platform having Float16).
    static func halfBits(_ value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF), mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF { return sign | 0x7C00 | (mantissa != 0 ? 0x200 : 0) }
        let unbiased = exponent - 127
        if unbiased > 15 { return sign | 0x7C00 }
        if unbiased >= -14 {
            // Normal: keep 10 mantissa bits, round the 13 dropped ones.
            var half = UInt32((unbiased + 15) << 10) | (mantissa >> 13)
            let dropped = mantissa & 0x1FFF
            if dropped > 0x1000 || (dropped == 0x1000 && half & 1 == 1) { half += 1 }  // may carry into the exponent: right
            return sign | UInt16(half)
        }
        if unbiased < -25 { return sign }
        // Subnormal: the value in units of 2^-24, rounded.
        let full = mantissa | 0x80_0000, shift = UInt32(-unbiased - 14 + 13)
        var half = full >> shift
        let dropped = full & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
        if dropped > halfway || (dropped == halfway && half & 1 == 1) { half += 1 }
        return sign | UInt16(half)
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out += [table[Int(n >> 18)], table[Int(n >> 12 & 63)], table[Int(n >> 6 & 63)], table[Int(n & 63)]]
            i += 3
        }
        let rest = bytes.count - i
        if rest > 0 {
            let n = UInt32(bytes[i]) << 16 | (rest == 2 ? UInt32(bytes[i + 1]) << 8 : 0)
            out += [
                table[Int(n >> 18)], table[Int(n >> 12 & 63)], rest == 2 ? table[Int(n >> 6 & 63)] : UInt8(ascii: "="),
                UInt8(ascii: "="),
            ]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` as HTML text or an attribute value: the markup characters as entities
    /// (the SVG reports' rule, which HTML5 reads the same way).
    static func escapeHTML(_ text: String) -> String { SVGText.escaped(text) }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation in the library).
    fileprivate func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = "", rest = Substring(self)
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
