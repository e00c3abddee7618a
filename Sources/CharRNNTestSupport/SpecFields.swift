// The integer and floating-point fields of every section, read from the field
// tables of formats/checkpoint.md itself (not a hand-made list), located in a
// concrete checkpoint, and the extreme values each can take: 0, 1, the
// largest value of its type, the bounds its "Allowed values" cell names and
// one past them, and for floats ±0, denormals, the largest finite values,
// ±infinity and NaN. The extreme-value test and the fuzzer's `values` mode
// set fields to these in otherwise valid sections (CheckpointSealing redoes
// lengths and CRCs), so every value reaches the section validators and, when
// the reader accepts it, every tool.

import CharRNN

public enum SpecFields {
    /// A scalar type of the format's tables.
    public enum ScalarType: String, CaseIterable, Sendable {
        case u8, u16, u32, u64, f32, f64

        public var size: Int {
            switch self {
            case .u8: 1
            case .u16: 2
            case .u32, .f32: 4
            case .u64, .f64: 8
            }
        }
    }

    /// One row of a field table: where the spec puts the field and what it allows.
    public struct Row: Sendable, CustomStringConvertible {
        /// "file header", or the section's tag.
        public let section: String
        /// 0: the section's own table; 1: the table of one of its entries or records;
        /// 2: TSKV's table of known keys.
        public let table: Int
        public let offset: String
        public let type: String
        public let field: String
        public let allowed: String

        public var description: String { "\(section) \(field)" }
    }

    /// A field of a concrete checkpoint, in its unsealed form (see CheckpointSealing).
    public struct Field: Sendable, CustomStringConvertible {
        public let row: Row
        /// Which element of an array, entry or record, e.g. "[last]", "entry 2".
        public let instance: String
        public let type: ScalarType
        /// Byte offset in the unsealed file.
        public let offset: Int
        /// The bounds the "Allowed values" cell names, when it names them.
        public let bounds: (low: UInt64, high: UInt64)?

        public var description: String { "\(row.section) \(row.field)\(instance.isEmpty ? "" : " " + instance)" }

        /// The values to try, little-endian, each `type.size` bytes.
        public var extremes: [[UInt8]] {
            switch type {
            case .f32:
                let values: [Float] = [
                    0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                    Float(1).nextDown, 1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                    .infinity, -.infinity, .nan,
                ]
                return values.map { SpecFields.bytes($0.bitPattern) }
            case .f64:
                let values: [Double] = [
                    0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude,
                    Double(1).nextDown, 1, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
                    .infinity, -.infinity, .nan,
                ]
                return values.map { SpecFields.bytes($0.bitPattern) }
            default:
                let maximum: UInt64 = type == .u64 ? .max : (1 << UInt64(8 * type.size)) - 1
                var values: [UInt64] = [0, 1, maximum, maximum / 2 + 1]
                if let (low, high) = bounds {
                    values += [low, high, high &+ 1]
                    if low > 0 { values.append(low - 1) }
                }
                var seen = Set<UInt64>()
                return values.filter { $0 <= maximum && seen.insert($0).inserted }
                    .map { value in Array(SpecFields.bytes(value).prefix(type.size)) }
            }
        }
    }

    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian, Array.init)
    }

    // MARK: - The tables

    /// The field tables of formats/checkpoint.md: rows whose type is a scalar or
    /// an array of scalars (byte strings such as names and keys are left out,
    /// as are the sub-tables' placeholders "entry[T]" and "record[R]").
    public static func rows(fromSpecification text: String) -> [Row] {
        var rows: [Row] = []
        var section: String?
        var tablesInSection = 0
        var header: [String] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("#") {
                let title = line.drop(while: { $0 == "#" })
                let tags = ["ALPH", "MODL", "TENS", "OPTM", "TSKV", "TSET", "HIST"].filter { title.contains($0) }
                section = title.contains("File header") ? "file header" : tags.count == 1 ? tags[0] : nil
                tablesInSection = 0
                header = []
                continue
            }
            guard let current = section, line.hasPrefix("|") else {
                if !header.isEmpty { tablesInSection += 1 }
                header = []
                continue
            }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { String($0).trimmingCharacters(in: " ") }
            if header.isEmpty {
                header = cells
                continue
            }
            if cells.allSatisfy({ $0.allSatisfy { "-: ".contains($0) } }) { continue }
            if header.starts(with: ["Offset", "Size", "Type", "Field"]), cells.count >= 5 {
                rows.append(
                    Row(
                        section: current, table: min(tablesInSection, 1), offset: cells[0], type: unquoted(cells[2]),
                        field: unquoted(cells[3]), allowed: cells[4]))
            } else if header.starts(with: ["Key", "Type", "Allowed values"]), cells.count >= 3 {
                rows.append(Row(section: current, table: 2, offset: "", type: cells[1], field: unquoted(cells[0]), allowed: cells[2]))
            }
        }
        return rows.filter { row in
            guard let (element, _) = parseType(row.type) else { return false }
            return !(row.type.contains("[") && element == .u8)
        }
    }

    static func unquoted(_ cell: String) -> String {
        cell.hasPrefix("`") && cell.hasSuffix("`") && cell.count >= 2 ? String(cell.dropFirst().dropLast()) : cell
    }

    /// "u32" → (u32, nil); "f32[P]" → (f32, "P"); anything else nil.
    static func parseType(_ type: String) -> (ScalarType, String?)? {
        guard let bracket = type.firstIndex(of: "[") else { return ScalarType(rawValue: type).map { ($0, nil) } }
        guard let element = ScalarType(rawValue: String(type[..<bracket])), type.hasSuffix("]") else { return nil }
        return (element, String(type[type.index(after: bracket)..<type.index(before: type.endIndex)]))
    }

    // MARK: - Locating the fields in a checkpoint

    /// The fields `rows` describe, located in `unsealed` (an unsealed checkpoint:
    /// each section holds its raw content). Arrays are tried at their first and
    /// last element, HIST at its first and last record, TENS and TSKV at every entry.
    public static func fields(_ rows: [Row], in unsealed: [UInt8]) -> [Field] {
        var fields: [Field] = []
        func add(_ row: Row, _ instance: String, _ type: ScalarType, _ offset: Int, limit: Int, context: [String: Int]) {
            guard offset >= 0, offset + type.size <= limit else { return }
            fields.append(Field(row: row, instance: instance, type: type, offset: offset, bounds: bounds(row.allowed, context)))
        }
        /// A row at `base` + its offset, as one field or an array's first and last element.
        func place(_ row: Row, base: Int, limit: Int, context: [String: Int], instance: String = "") {
            guard let (type, count) = parseType(row.type), let offset = evaluate(row.offset, context) else { return }
            guard let count else { return add(row, instance, type, base + offset, limit: limit, context: context) }
            guard let elements = evaluate(count, context), elements > 0 else { return }
            add(row, instance + "[0]", type, base + offset, limit: limit, context: context)
            if elements > 1 { add(row, instance + "[last]", type, base + offset + (elements - 1) * type.size, limit: limit, context: context) }
        }
        for row in rows where row.section == "file header" {
            place(row, base: 0, limit: min(unsealed.count, CheckpointFormat.fileHeaderSize), context: [:])
        }
        var offset = CheckpointFormat.fileHeaderSize
        while unsealed.count - offset >= SectionHeader.size {
            let header = SectionHeader(fields: Array(unsealed[offset..<offset + SectionHeader.size]))
            let start = offset + SectionHeader.size
            let end = min(unsealed.count, start + Int(header.storedLength))
            offset = end
            let content = Array(unsealed[start..<end])
            let sectionRows = rows.filter { $0.section == header.tagName }
            guard !sectionRows.isEmpty else { continue }
            let context = Self.context(header.tagName, content)
            for row in sectionRows where row.table == 0 { place(row, base: start, limit: end, context: context) }
            for (index, instance) in instances(header.tagName, content).enumerated() {
                for row in sectionRows where row.table == 1 {
                    place(
                        row, base: start + instance.offset, limit: end, context: context.merging(instance.context) { $1 },
                        instance: instance.name.isEmpty ? "\(index)" : instance.name)
                }
                // TSKV's known keys: the value of the entry with that key.
                for row in sectionRows where row.table == 2 && row.field == instance.key {
                    guard let type = ScalarType(rawValue: row.type), let n = instance.context["n"] else { continue }
                    add(row, "", type, start + instance.offset + 2 + n, limit: end, context: context)
                }
            }
        }
        return fields
    }

    static func u32(_ content: [UInt8], _ offset: Int) -> Int? {
        guard offset >= 0, offset + 4 <= content.count else { return nil }
        return content[offset..<offset + 4].reversed().reduce(0) { $0 << 8 | Int($1) }
    }

    /// The symbols a section's table uses for sizes and offsets, from its content.
    static func context(_ tag: String, _ content: [UInt8]) -> [String: Int] {
        switch tag {
        case "ALPH": return ["N": u32(content, 0) ?? 0]
        case "MODL": return ["L": u32(content, 20) ?? 0]
        case "TENS":
            let end = instances(tag, content).last.map { $0.offset + $0.size } ?? 4
            let padded = (end + 3) & ~3
            return ["T": u32(content, 0) ?? 0, "D": end, "D_pad": padded, "P": max(0, content.count - padded) / 4]
        case "OPTM": return ["P": max(0, content.count - 32) / 8]
        case "TSKV": return ["K": u32(content, 0) ?? 0]
        case "HIST": return ["R": u32(content, 0) ?? 0]
        default: return [:]
        }
    }

    struct Instance {
        var name = ""
        let offset: Int
        var size = 0
        var context: [String: Int] = [:]
        var key: String?
    }

    /// The entries or records of a section whose table 1 describes one of them.
    static func instances(_ tag: String, _ content: [UInt8]) -> [Instance] {
        switch tag {
        case "TENS", "TSKV":
            // TENS: u8 n, n bytes, u8 rank, rank u32s. TSKV: u8 n, n bytes, u8 type, then the value.
            var result: [Instance] = []
            var offset = 4
            for index in 0..<min(u32(content, 0) ?? 0, 512) {
                guard offset + 1 < content.count else { break }
                let n = Int(content[offset])
                guard offset + 1 + n < content.count else { break }
                let key = String(decoding: content[(offset + 1)..<(offset + 1 + n)], as: UTF8.self)
                let code = Int(content[offset + 1 + n])
                let size: Int
                if tag == "TENS" {
                    size = 2 + n + 4 * code
                } else {
                    size = 2 + n + (code == 3 ? 4 + (u32(content, offset + 2 + n) ?? 0) : 8)
                }
                result.append(
                    Instance(
                        name: "entry \(index) (\(key))", offset: offset, size: size,
                        context: ["n": n, "rank": code], key: key))
                offset += size
            }
            return result
        case "HIST":
            let count = u32(content, 0) ?? 0
            return Set([0, max(0, count - 1)]).sorted().filter { _ in count > 0 }
                .map { Instance(name: "record \($0 == 0 ? "first" : "last")", offset: 4 + 72 * $0, size: 72) }
        default:
            return []
        }
    }

    /// A table's offset or count: "24", "32+4·P", "1+n", "D_pad", "N".
    static func evaluate(_ expression: String, _ context: [String: Int]) -> Int? {
        guard !expression.isEmpty else { return nil }
        var total = 0
        for term in expression.replacingOccurrences(" ", "").split(separator: "+") {
            var product = 1
            for factor in term.split(separator: "·") {
                if let number = Int(factor) { product *= number } else if let value = context[String(factor)] { product *= value } else { return nil }
            }
            total += product
        }
        return total
    }

    /// The bounds an "Allowed values" cell names, e.g. "2 … 65 536" or "1 … 2^20"
    /// or "0 … N−1", when it names both.
    static func bounds(_ allowed: String, _ context: [String: Int]) -> (low: UInt64, high: UInt64)? {
        guard let ellipsis = allowed.firstIndex(of: "…") else { return nil }
        func number(_ text: Substring, fromEnd: Bool) -> UInt64? {
            // The number next to the ellipsis: digits (spaces between groups), "2^20", "N−1", "2^31 − 1".
            let allowedCharacters = Set("0123456789 ^−-N")
            let run =
                fromEnd
                ? String(text.reversed().prefix(while: { allowedCharacters.contains($0) }).reversed())
                : String(text.prefix(while: { allowedCharacters.contains($0) }))
            let compact = run.replacingOccurrences(" ", "").replacingOccurrences("−", "-")
            guard !compact.isEmpty else { return nil }
            let parts = compact.split(separator: "-", omittingEmptySubsequences: false)
            func term(_ part: Substring) -> UInt64? {
                if part == "N" { return context["N"].map(UInt64.init) }
                let power = part.split(separator: "^")
                if power.count == 2, let base = UInt64(power[0]), let exponent = UInt64(power[1]), exponent < 64 {
                    return exponent == 0 ? 1 : (0..<exponent).reduce(UInt64(1)) { product, _ in product &* base }
                }
                return UInt64(part)
            }
            guard let first = term(parts[0]) else { return nil }
            return parts.dropFirst().reduce(Optional(first)) { value, part in
                guard let value, let subtrahend = term(part), subtrahend <= value else { return nil }
                return value - subtrahend
            }
        }
        guard let low = number(allowed[..<ellipsis], fromEnd: true),
            let high = number(allowed[allowed.index(after: ellipsis)...].drop(while: { $0 == " " }), fromEnd: false)
        else { return nil }
        return (low, high)
    }

    // MARK: - Setting a field

    /// `unsealed` with `field` set to `value` (little-endian, `field.type.size` bytes).
    public static func setting(_ field: Field, to value: [UInt8], in unsealed: [UInt8]) -> [UInt8] {
        var copy = unsealed
        copy.replaceSubrange(field.offset..<field.offset + field.type.size, with: value.prefix(field.type.size))
        return copy
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(drop(while: { set.contains($0) }).reversed().drop(while: { set.contains($0) }).reversed())
    }

    fileprivate func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
