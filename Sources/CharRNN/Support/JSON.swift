// A minimal JSON value and writer, enough for `charrnn-inspect --json`
// without pulling Foundation into every tool's start-up.

public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case uint(UInt64)
    case double(Double)
    case string(String)
    case array([JSON])
    /// Keys keep their order, so the output is stable.
    case object([(String, JSON)])

    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        lhs.rendered() == rhs.rendered()
    }

    /// Compact JSON text on one line.
    public func rendered() -> String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .uint(let value): out += String(value)
        case .double(let value):
            out += JSON.doubleText(value)
        case .string(let value): JSON.writeString(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                JSON.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    /// A double as this JSON writes it: integral values without a fraction, others
    /// in Swift's shortest form, NaN and infinities as null (JSON has neither).
    static func doubleText(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
    }

    /// `doubleText(value)`, appended.
    static func appendDouble(_ value: Double, into out: ByteBuffer) {
        if value.isFinite, value == value.rounded(), abs(value) < 1e15 {
            if value < 0 { out.append(UInt8(ascii: "-")) }
            FastFormat.appendDecimal(UInt64(value.magnitude), into: out)
        } else if value.isFinite {
            // Double's own text (its description), written without making a String of it.
            var stream = ByteBufferStream(out: out)
            value.write(to: &stream)
        } else {
            out.append("null")
        }
    }

    private static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x2028...0x2029).contains(scalar.value) {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// Text written into a ByteBuffer. Standard-library types that write ASCII
/// (numbers) hand it over as bytes, through `_writeASCII`, without a String.
struct ByteBufferStream: TextOutputStream {
    let out: ByteBuffer

    mutating func write(_ string: String) { out.append(string: string) }

    mutating func _writeASCII(_ buffer: UnsafeBufferPointer<UInt8>) { out.append(UnsafeRawBufferPointer(buffer)) }
}
