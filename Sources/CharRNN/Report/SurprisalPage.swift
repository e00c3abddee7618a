// The HTML page of `charrnn-sample --score FILE --html`: the text with every
// character coloured by how surprised the model was by it (or, with --unit,
// by one unit's output after reading it), its figures on hover. One file with
// inline CSS and no script, written as XHTML-compatible HTML5 (every element
// closed, every attribute quoted, only XML's own entities), so that it opens in
// any browser without a network and an XML parser can check it.
//
// Each character of the file is one <span> inside <pre class="text">, with
// id "c<offset>" (its 0-based character offset, so page.html#c120 points at
// one, and shows its figures as hovering does):
//   class "c"     a character the model read: title (the figures in words),
//                 data-nats, data-bits, data-rank, data-guess (not on the first
//                 character, which nothing predicts), data-unit with --unit,
//                 and its colour as style="background-color:rgb(r,g,b)";
//   class "skip"  a character the alphabet lacks (struck through, no figures).
// A character that does not print (a control, a newline) shows as its escape
// (\n shows as ↵ and is followed by the line break itself). The summary
// (characters predicted, loss, perplexity) comes after the text, so that the
// page is written as the text is read (`head`, one `span` per character, `tail`).

public enum SurprisalPage {
    /// Surprisal at which the colour scale ends (darkest red), bits.
    public static let scaleBits = 8.0

    /// The colour of a character the model predicted with `bits` of surprisal:
    /// white (0 bits), through yellow (scaleBits / 2), to a red light enough for
    /// black text (scaleBits and more).
    public static func surprisalColour(bits: Double) -> (r: Int, g: Int, b: Int) {
        // NaN (no figure) takes the end of the scale rather than trap in Int(_:).
        let t = bits.isNaN ? 1 : min(max(bits / scaleBits, 0), 1)
        if t <= 0.5 { return (255, 255, Int((255 * (1 - 2 * t)).rounded())) }
        let u = 2 * t - 1
        return (Int((255 - 20 * u).rounded()), Int((255 - 195 * u).rounded()), Int((40 * u).rounded()))
    }

    /// The colour of a unit's output a: red for -1, white for 0, blue for +1 (clamped).
    public static func activationColour(_ a: Float) -> (r: Int, g: Int, b: Int) {
        let v = Double(min(max(a.isNaN ? 0 : a, -1), 1))
        if v >= 0 { return (Int((255 - 175 * v).rounded()), Int((255 - 120 * v).rounded()), 255) }
        let w = -v
        return (255, Int((255 - 175 * w).rounded()), Int((255 - 175 * w).rounded()))
    }

    /// The page. `title` names the text, `model` describes the model; `unit` (0-based
    /// layer and unit, as given to TextAnalysis.analyse) colours by that unit.
    public static func render(
        _ analysis: TextAnalysis, alphabet: Alphabet, title: String, model: String,
        unit: (layer: Int, index: Int)? = nil
    ) -> String {
        var out = head(title: title, model: model, unit: unit)
        var read = 0
        for (offset, scalar) in analysis.scalars.enumerated() {
            var character = AnalysedCharacter(offset: offset, scalar: scalar)
            if analysis.symbols[offset] >= 0 {
                character.symbol = Int(analysis.symbols[offset])
                character.prediction = analysis.prediction(atRead: read)
                if unit != nil { character.activation = analysis.activations[read] }
                read += 1
            }
            out += span(character, alphabet: alphabet, unit: unit)
        }
        return out + tail(analysis.score)
    }

    /// Everything before the text's first character.
    public static func head(title: String, model: String, unit: (layer: Int, index: Int)?) -> String {
        """
        <!DOCTYPE html>
        <html xmlns="http://www.w3.org/1999/xhtml" lang="en">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>\(SVGText.escaped(title))</title>
        <style>
        \(style)
        </style>
        </head>
        <body>
        <h1>\(SVGText.escaped(title))</h1>
        <p class="model">\(SVGText.escaped(model))</p>

        """ + legend(unit: unit) + "<pre class=\"text\">"
    }

    /// Everything after the text's last character: the summary, and the end of the page.
    public static func tail(_ score: TextScore) -> String {
        "</pre>\n<p class=\"summary\">\(score.predicted) characters predicted: \(format("%.4f", score.natsPerCharacter)) nats/char "
            + "(\(format("%.4f", score.bitsPerCharacter)) bits/char), perplexity \(format("%.3f", score.perplexity)).</p>\n"
            + "</body>\n</html>\n"
    }

    /// One character of the text.
    public static func span(_ character: AnalysedCharacter, alphabet: Alphabet, unit: (layer: Int, index: Int)?) -> String {
        let scalar = character.scalar, offset = character.offset
        let shown = scalar == 0x0A ? "↵" : visible(scalar)
        let lineBreak = scalar == 0x0A ? "\n" : ""
        guard character.symbol != nil else {
            return "<span id=\"c\(offset)\" class=\"skip\" title=\"\(SVGText.escaped(quoted(scalar))) "
                + "not in the model&apos;s alphabet, skipped\">\(SVGText.escaped(shown))</span>\(lineBreak)"
        }
        var words: [String] = [quoted(scalar)]
        var data = ""
        var colour = (r: 255, g: 255, b: 255)
        if let unit, let a = character.activation {
            words.append("unit \(unit.layer + 1):\(unit.index + 1) = \(format("%.4f", Double(a)))")
            data += " data-unit=\"\(format("%.6f", Double(a)))\""
            colour = activationColour(a)
        }
        if let prediction = character.prediction {
            let nats = Double(prediction.nats), bits = nats * Units.bitsPerNat
            let guess = alphabet.symbols[Int(prediction.guess)]
            words.append(
                "\(format("%.3f", nats)) nats, \(format("%.3f", bits)) bits, rank \(prediction.rank), "
                    + "model's guess \(quoted(guess))")
            data +=
                " data-nats=\"\(format("%.6f", nats))\" data-bits=\"\(format("%.6f", bits))\""
                + " data-rank=\"\(prediction.rank)\" data-guess=\"\(SVGText.escaped(Alphabet.escaped(guess)))\""
            if unit == nil { colour = surprisalColour(bits: bits) }
        } else {
            words.append("first character, not predicted")
        }
        return "<span id=\"c\(offset)\" class=\"c\" style=\"background-color:rgb(\(colour.r),\(colour.g),\(colour.b))\""
            + " title=\"\(SVGText.escaped(words.joined(separator: "  ")))\"\(data)>\(SVGText.escaped(shown))</span>\(lineBreak)"
    }

    static let style = """
        body { font-family: sans-serif; margin: 1.5em 2em; color: #111; background: #fff; }
        h1 { font-size: 1.3em; margin: 0 0 0.3em; }
        p { margin: 0.3em 0; }
        .legend { margin: 0.6em 0 1em; font-size: 0.9em; }
        .legend span.swatch { display: inline-block; width: 2.2em; text-align: center; border: 1px solid #ccc; }
        pre.text { font-family: monospace; font-size: 15px; line-height: 1.6; white-space: pre-wrap; \
        overflow-wrap: anywhere; border-top: 1px solid #ddd; padding-top: 0.8em; }
        pre.text span { position: relative; }
        pre.text span.skip { color: #999; text-decoration: line-through; }
        pre.text span.c:hover, pre.text span.c:target { outline: 1px solid #000; }
        pre.text span.c:hover::after, pre.text span.c:target::after { content: attr(title); position: absolute; \
        left: 0; top: 1.7em; z-index: 1; white-space: pre; background: #222; color: #fff; font: 12px sans-serif; \
        padding: 3px 6px; border-radius: 3px; }
        """

    static func legend(unit: (layer: Int, index: Int)?) -> String {
        var out = "<p class=\"legend\">"
        if let unit {
            out += "Colour: the output of unit \(unit.index + 1) of layer \(unit.layer + 1) after reading the character: "
            for a: Float in [-1, -0.5, 0, 0.5, 1] {
                let c = activationColour(a)
                out += "<span class=\"swatch\" style=\"background-color:rgb(\(c.r),\(c.g),\(c.b))\">\(format("%+.1f", Double(a)))</span> "
            }
        } else {
            out += "Colour: the model&apos;s surprise, &#8722;log&#8322; p(character | text before it): "
            for bits in stride(from: 0.0, through: scaleBits, by: 2) {
                let c = surprisalColour(bits: bits)
                let label = bits == scaleBits ? "\(Int(bits))+" : "\(Int(bits))"
                out += "<span class=\"swatch\" style=\"background-color:rgb(\(c.r),\(c.g),\(c.b))\">\(label)</span> "
            }
            out += "bits"
        }
        out += ". Hover over a character for its figures.</p>\n"
        return out
    }

    /// How a character shows in the text: itself when it prints, else its escape (\t stays a tab).
    static func visible(_ scalar: UInt32) -> String {
        if scalar == 0x20 || scalar == 0x09 { return String(Unicode.Scalar(scalar)!) }
        return Alphabet.escaped(scalar)
    }

    /// 'x' as charrnn-inspect shows a symbol.
    static func quoted(_ scalar: UInt32) -> String { "'\(Alphabet.escaped(scalar))'" }
}
