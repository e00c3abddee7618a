// The small pieces of SVG writing the loss plot needs: XML escaping, numbers
// in fixed precision, and a rough text width for layout.
//
// Numbers go through the project's `format` (vsnprintf). The tools never call
// setlocale, so they run in the C locale and the decimal separator is always
// ".", and the same plot is the same file.

enum SVGText {
    /// `text` made safe for XML character data and attribute values.
    ///
    /// The five markup characters become entities. Characters that XML 1.0
    /// forbids outright (C0 controls other than tab, newline and return, and
    /// U+FFFE/U+FFFF) become U+FFFD, so a strange file name cannot make the
    /// document ill-formed. Tab, newline and return become character
    /// references so that attribute-value normalisation keeps them.
    static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t": out += "&#9;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            default:
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF {
                    out.unicodeScalars.append("\u{FFFD}")
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    /// `value` with exactly `digits` decimals (0 … 9); "-0.00" is written "0.00".
    static func fixed(_ value: Double, digits: Int) -> String {
        precondition((0...9).contains(digits), "digits must be 0 … 9")
        let text = format("%.*f", Int32(digits), value.isFinite ? value : 0)
        return text.hasPrefix("-") && text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) ? String(text.dropFirst()) : text
    }

    /// A plot coordinate: two decimals, plenty below a pixel.
    static func coordinate(_ value: Double) -> String { fixed(value, digits: 2) }

    /// Roughly how wide `text` is in pixels at `fontSize`, for placing labels.
    ///
    /// Viewers pick their own sans-serif font, so this errs wide: 0.55 em per
    /// character (DejaVu Sans, one of the wider ones, averages about 0.5 on
    /// English text) and a full em for East Asian and other wide characters.
    static func estimatedWidth(_ text: String, fontSize: Double) -> Double {
        var ems = 0.0
        for scalar in text.unicodeScalars {
            ems += scalar.value >= 0x1100 ? 1.0 : 0.55
        }
        return ems * fontSize
    }
}
