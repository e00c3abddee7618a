// printf-style number formatting without Foundation, and a plain-text table.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCharRNNSupport

/// Formats with a C format string, e.g. format("%.4f", loss).
public func format(_ pattern: String, _ arguments: CVarArg...) -> String {
    withVaList(arguments) { list in
        var buffer = [CChar](repeating: 0, count: 256)
        let length = Int(vsnprintf(&buffer, buffer.count, pattern, list))
        if length >= buffer.count {
            buffer = [CChar](repeating: 0, count: length + 1)
            return withVaList(arguments) { again in
                _ = vsnprintf(&buffer, buffer.count, pattern, again)
                return cString(buffer)
            }
        }
        return cString(buffer)
    }
}

private func cString(_ buffer: [CChar]) -> String {
    let end = buffer.firstIndex(of: 0) ?? buffer.count
    return String(decoding: buffer[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A count with thousands separators: 262373 -> "262,373".
public func grouped(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, digit) in digits.enumerated() {
        if index > 0, (digits.count - index) % 3 == 0 { out += "," }
        out.append(digit)
    }
    return value < 0 ? "-" + out : out
}

/// A speed such as chars/s as a whole number, rounded half away from zero, with
/// thousands separators or without: 62397.5 -> "62,398" or "62398". The epoch's
/// summary line and the history both print chars/s through this, so they agree.
/// A value that is not finite or does not fit an Int (a hostile checkpoint's
/// history) prints as printf's %.0f would.
public func wholeNumber(_ value: Double, grouping: Bool) -> String {
    let rounded = value.rounded()
    guard rounded.isFinite, abs(rounded) < 9e18 else { return format("%.0f", value) }
    return grouping ? grouped(Int(rounded)) : String(Int(rounded))
}

/// Columns padded to their widest cell; numbers (and headers over them) right-aligned.
public struct TextTable {
    public var header: [String]
    public var rows: [[String]] = []
    public var rightAligned: Set<Int>

    public init(header: [String], rightAligned: Set<Int>) {
        self.header = header
        self.rightAligned = rightAligned
    }

    public mutating func add(_ row: [String]) { rows.append(row) }

    public func rendered(indent: String = "  ") -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for row in all {
            for (column, cell) in row.enumerated() { widths[column] = max(widths[column], cell.count) }
        }
        return all.map { row in
            var line = indent
            for (column, cell) in row.enumerated() {
                let padding = String(repeating: " ", count: widths[column] - cell.count)
                let isLast = column == row.count - 1
                if rightAligned.contains(column) {
                    line += padding + cell
                } else {
                    line += cell + (isLast ? "" : padding)
                }
                if !isLast { line += "  " }
            }
            return line
        }.joined(separator: "\n")
    }
}

/// ISO 8601 UTC timestamp of now, e.g. 2026-11-29T09:02:06Z.
public func isoTimestamp() -> String {
    var now = time(nil)
    var parts = tm()
    gmtime_r(&now, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// A byte count for messages: "8.0 GiB", "12.5 MiB", "900 bytes" (binary units).
public func formatBytes(_ bytes: UInt64) -> String {
    let units: [(String, Double)] = [("GiB", 1_073_741_824), ("MiB", 1_048_576), ("KiB", 1_024)]
    for (name, size) in units where Double(bytes) >= size {
        let value = Double(bytes) / size
        return value >= 10 ? "\(Int(value.rounded())) \(name)" : "\(Double(Int(value * 10)) / 10) \(name)"
    }
    return bytes == 1 ? "1 byte" : "\(bytes) bytes"
}

/// A growing run of bytes written through a pointer, for the hot loops of
/// reports: appends without Array's checks and copies.
public final class ByteBuffer {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var count = 0
    private var capacity: Int

    public init(capacity: Int = 1 << 16) {
        self.capacity = max(capacity, 64)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Room for `extra` more bytes.
    @inline(__always)
    public func reserve(_ extra: Int) {
        if count + extra > capacity { grow(to: count + extra) }
    }

    private func grow(to needed: Int) {
        var size = capacity
        while size < needed { size *= 2 }
        let larger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        larger.update(from: base, count: count)
        base.deallocate()
        base = larger
        capacity = size
    }

    @inline(__always)
    public func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count += 1
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserve(bytes.count)
        (base + count).update(from: source.assumingMemoryBound(to: UInt8.self), count: bytes.count)
        count += bytes.count
    }

    public func append(_ text: StaticString) {
        text.withUTF8Buffer { append(UnsafeRawBufferPointer($0)) }
    }

    public func append(string text: String) {
        var copy = text
        copy.withUTF8 { append(UnsafeRawBufferPointer($0)) }
    }

    /// Bytes `range` of this buffer, appended again.
    public func append(copyOf range: Range<Int>) {
        reserve(range.count)
        (base + count).update(from: base + range.lowerBound, count: range.count)
        count += range.count
    }

    public func append(repeating byte: UInt8, count repeats: Int) {
        guard repeats > 0 else { return }
        reserve(repeats)
        (base + count).update(repeating: byte, count: repeats)
        count += repeats
    }

    public func removeAll() { count = 0 }

    /// Counts `written` bytes, put at `base + count` by the caller after `reserve`, as appended.
    func advance(by written: Int) { count += written }

    /// Drops the bytes from `index` on.
    public func truncate(to index: Int) { count = min(count, index) }
}

/// printf's `%.Nf` and `%.6g` for Doubles, written straight into bytes: a
/// report of a million history records formats ten million numbers, which
/// vsnprintf takes seconds for. The output is exactly vsnprintf's: wherever a
/// shortcut could differ from it (a value within a few ulps of a rounding tie
/// or of a power of ten, a large or non-finite value), vsnprintf does it.
public enum FastFormat {
    static let powersOfTen: [Double] = (0...22).map { exponent in
        var value = 1.0
        for _ in 0..<exponent { value *= 10 }
        return value
    }

    @inline(__always)
    static func powerOfTen(_ exponent: Int) -> Double {
        switch exponent {
        case 0: 1
        case 1: 10
        case 2: 100
        case 3: 1000
        case 4: 10000
        case 5: 100000
        case 6: 1000000
        case 7: 10000000
        case 8: 100000000
        case 9: 1000000000
        default: powersOfTen[exponent]
        }
    }

    /// "00" ... "99", for two digits at a time.
    static let digitPairs: [UInt8] = (0..<100).flatMap { [UInt8(ascii: "0") + UInt8($0 / 10), UInt8(ascii: "0") + UInt8($0 % 10)] }

    /// `format("%.{decimals}f", value)`, appended to `out`.
    public static func fixed(_ value: Double, decimals: Int, into out: ByteBuffer) {
        guard value.isFinite, (0...9).contains(decimals) else { return slow(fixedPatterns[min(max(decimals, 0), 9)], value, into: out) }
        let scaled = value.magnitude * powerOfTen(decimals)
        guard scaled < 1e15 else { return slow(fixedPatterns[decimals], value, into: out) }
        let whole = scaled.rounded(.down)
        let fraction = scaled - whole
        // The product is within half an ulp of the exact one: near .5 only printf knows which way it goes.
        guard (fraction - 0.5).magnitude > 4 * scaled.ulp else { return slow(fixedPatterns[decimals], value, into: out) }
        let rounded = UInt64(fraction > 0.5 ? whole + 1 : whole)
        if value.sign == .minus { out.append(UInt8(ascii: "-")) }
        let unit = UInt64(powerOfTen(decimals))
        appendDecimal(rounded / unit, into: out)
        if decimals > 0 {
            out.append(UInt8(ascii: "."))
            appendDecimal(rounded % unit, width: decimals, into: out)
        }
    }

    static let fixedPatterns: [String] = ["%.0f", "%.1f", "%.2f", "%.3f", "%.4f", "%.5f", "%.6f", "%.7f", "%.8f", "%.9f"]

    /// `format("%.6g", value)`, appended to `out`.
    public static func general6(_ value: Double, into out: ByteBuffer) {
        guard value.isFinite else { return slow("%.6g", value, into: out) }
        if value == 0 {
            out.append(value.sign == .minus ? "-0" : "0")
            return
        }
        let logarithm = log10(value.magnitude)
        // Near a power of ten the exponent (and so the style) is printf's to decide.
        guard (logarithm - logarithm.rounded()).magnitude > 1e-9 else { return slow("%.6g", value, into: out) }
        var exponent = Int(logarithm.rounded(.down))
        guard (-22...22).contains(exponent) else { return slow("%.6g", value, into: out) }
        let start = out.count
        if value.sign == .minus { out.append(UInt8(ascii: "-")) }
        let digitsStart = out.count
        // %g: fixed style with 6 significant digits for exponents -4...5, else d.ddddde±XX.
        func attempt() -> Bool {
            out.truncate(to: digitsStart)
            if (-4...5).contains(exponent) {
                fixed(value.magnitude, decimals: 5 - exponent, into: out)
            } else {
                // The mantissa, in [1, 10), is one rounding away from the exact one: near a tie
                // that rounding may have decided the digits, so printf formats the value itself.
                let mantissa = exponent < 0 ? value.magnitude * powersOfTen[-exponent] : value.magnitude / powersOfTen[exponent]
                let scaled = mantissa * 100_000
                guard (scaled - scaled.rounded(.down) - 0.5).magnitude > 16 * scaled.ulp else { return false }
                fixed(mantissa, decimals: 5, into: out)
            }
            // Rounding to six digits reached the next power of ten: %g counts from there.
            guard out.count > digitsStart else { return false }
            var significant = 0
            var leading = true
            for index in digitsStart..<out.count where out.base[index] != UInt8(ascii: ".") {
                if leading, out.base[index] == UInt8(ascii: "0") { continue }
                leading = false
                significant += 1
            }
            return significant <= 6
        }
        var done = attempt()
        if !done, out.count > digitsStart {  // formatted, but rounded up to the next power of ten
            exponent += 1
            done = exponent <= 22 && attempt()
        }
        guard done else {
            out.truncate(to: start)
            return slow("%.6g", value, into: out)
        }
        // Without '#', %g drops trailing zeros and a bare decimal point.
        if (digitsStart..<out.count).contains(where: { out.base[$0] == UInt8(ascii: ".") }) {
            while out.base[out.count - 1] == UInt8(ascii: "0") { out.truncate(to: out.count - 1) }
            if out.base[out.count - 1] == UInt8(ascii: ".") { out.truncate(to: out.count - 1) }
        }
        if !(-4...5).contains(exponent) {
            out.append(UInt8(ascii: "e"))
            out.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            appendDecimal(UInt64(exponent.magnitude), width: 2, into: out)
        }
    }

    /// How many decimal digits `value` has.
    @inline(__always)
    public static func digitCount(_ value: UInt64) -> Int {
        var length = 1
        var limit: UInt64 = 10
        while length < 20, value >= limit {
            length += 1
            limit = limit &* 10
        }
        return length
    }

    /// The digits of `value`, left-padded with zeros to `width`.
    public static func appendDecimal(_ value: UInt64, width: Int = 1, into out: ByteBuffer) {
        let length = digitCount(value)
        let total = max(width, length)
        out.reserve(total)
        let base = out.base + out.count
        base.update(repeating: UInt8(ascii: "0"), count: total - length)
        var position = total - 1
        var rest = value
        digitPairs.withUnsafeBufferPointer { pairs in
            while rest >= 100 {
                let pair = Int(rest % 100) * 2
                rest /= 100
                base[position] = pairs[pair + 1]
                base[position - 1] = pairs[pair]
                position -= 2
            }
            if rest >= 10 {
                base[position] = pairs[Int(rest) * 2 + 1]
                base[position - 1] = pairs[Int(rest) * 2]
            } else {
                base[position] = UInt8(ascii: "0") + UInt8(rest)
            }
        }
        out.advance(by: total)
    }

    private static func slow(_ pattern: String, _ value: Double, into out: ByteBuffer) {
        var capacity = 64
        while true {
            out.reserve(capacity)
            let written = pattern.withCString { pattern in
                Int(
                    charrnn_format_double(
                        UnsafeMutableRawPointer(out.base + out.count).assumingMemoryBound(to: CChar.self),
                        UInt(capacity), pattern, value))
            }
            // %.Nf of 1e308 has 309 digits: try again with room for all of them.
            if written < capacity {
                out.advance(by: max(written, 0))
                return
            }
            capacity = written + 1
        }
    }
}

/// The width of the widest `%.Nf` of many values, found from the extremes: the
/// length of `%.Nf` grows with the magnitude (rounding is monotonic), so only
/// the largest positive and the largest negative value, and any NaN or
/// infinity, need formatting.
public struct FixedColumnWidth {
    public let decimals: Int
    private var largestPositive: Double?
    private var largestNegative: Double?
    private var special = 0

    public init(decimals: Int) { self.decimals = decimals }

    @inline(__always)
    public mutating func add(_ value: Double) {
        guard value.isFinite else { return addSpecial(value) }
        if value.sign == .minus {
            if largestNegative.map({ value.magnitude > $0 }) ?? true { largestNegative = value.magnitude }
        } else if largestPositive.map({ value > $0 }) ?? true {
            largestPositive = value
        }
    }

    private mutating func addSpecial(_ value: Double) {
        let scratch = ByteBuffer(capacity: 64)
        FastFormat.fixed(value, decimals: decimals, into: scratch)
        special = max(special, scratch.count)
    }

    /// The widest of the values added, or 0 for none.
    public var width: Int {
        let scratch = ByteBuffer(capacity: 64)
        var widest = special
        if let largestPositive {
            FastFormat.fixed(largestPositive, decimals: decimals, into: scratch)
            widest = max(widest, scratch.count)
        }
        if let largestNegative {
            scratch.removeAll()
            FastFormat.fixed(-largestNegative, decimals: decimals, into: scratch)
            widest = max(widest, scratch.count)
        }
        return widest
    }
}
