// What text from a file may carry into a terminal. A checkpoint's notes, its
// unknown settings, a file name or a text quoted in an error are written to
// a terminal by the reports and messages; raw, an ESC there could retitle or
// clear the terminal, or write to the clipboard (OSC 52), and a bidi override
// could make a line read otherwise than it is. So the text reports and every
// message on stderr show such characters escaped, as `ls` and `git` do, in
// the style the alphabet is already shown in (Alphabet.escaped):
//
//   \n \r \t \v               the four that have a name
//   \u{1B}, \u{7F}, \u{9B}    any other C0 control, DEL, a C1 control (U+0080 ... U+009F),
//   \u{2028}, \u{202E}        U+2028/U+2029 and the bidi controls (U+061C, U+200E,
//                             U+200F, U+202A ... U+202E, U+2066 ... U+2069)
//   \xFF                      a byte of a file name that is not UTF-8 (SystemPath)
//
// A backslash is left as it is, so ordinary names read as before; an escape
// in a report is therefore not always told apart from the same characters
// typed literally, which is the price of keeping names readable. `--json`,
// `--history`, the files the tools write and the generated text keep the
// exact characters (JSON escapes control characters its own way).

public enum TerminalText {
    /// True for a scalar that is shown escaped.
    @inline(__always)
    public static func needsEscape(_ value: UInt32) -> Bool {
        switch value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x061C, 0x200E, 0x200F, 0x2028...0x202E, 0x2066...0x2069: return true
        default: return SystemPath.escapedByte(value) != nil
        }
    }

    /// `text` with every scalar of the kinds above escaped: for one line.
    public static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0.value) }) else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 16)
        for scalar in text.unicodeScalars {
            let value = scalar.value
            guard needsEscape(value) else {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch value {
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x0B: out += "\\v"
            default:
                if let byte = SystemPath.escapedByte(value) {
                    out += "\\x" + String(byte, radix: 16, uppercase: true)
                } else {
                    out += "\\u{" + String(value, radix: 16, uppercase: true) + "}"
                }
            }
        }
        return out
    }

    /// `text` escaped line by line: the line breaks ("\n") stay, for text of several lines.
    public static func escapedLines(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 != "\n" && needsEscape($0.value) }) else { return text }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { escaped(String($0)) }.joined(separator: "\n")
    }
}
