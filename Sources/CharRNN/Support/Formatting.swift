// printf-style number formatting without Foundation, and a plain-text table.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
