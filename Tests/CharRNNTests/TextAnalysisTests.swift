// --score FILE --per-char and --html: each character's loss, rank and guess
// against the reference network's probabilities, a unit's output against the
// reference network's state, the table's positions, and the HTML page parsed
// back as XML: one span per character with its figures, colours in range,
// everything escaped, nothing fetched from elsewhere.

@testable import CharRNN
import CharRNNTestSupport
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct TextAnalysisTests {
    /// Alphabet "ab\n c" and the stop symbol.
    static let alphabet = try! Alphabet(symbols: [0x61, 0x62, 0x0A, 0x20, 0x63, 0x0B], stopIndex: 5)

    static func model(_ cell: CellKind) -> Model {
        Model(initialising: ModelConfig(cell: cell, hiddenSizes: [8, 5], alphabetSize: 6, seed: 12))
    }

    /// "ab c\nxba\n\ncab": x is not in the alphabet.
    static let text = Array("ab c\nxba\n\ncab".unicodeScalars.map(\.value))

    @Test(arguments: CellKind.tested)
    func figuresMatchTheReferenceNetwork(cell: CellKind) throws {
        let model = Self.model(cell)
        let analysis = try TextAnalysis.analyse(Self.text, alphabet: Self.alphabet, model: model, unit: (layer: 1, index: 3))
        let read = analysis.readOffsets.map { Int(analysis.symbols[$0]) }
        #expect(analysis.readOffsets == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12], "x at offset 5 is skipped")
        #expect(analysis.predictions.count == read.count - 1 && analysis.score.predicted == read.count - 1)
        let reference = ReferenceNetwork<Double>(config: model.config, parameters: model.parameters.map(Double.init))
        var state = reference.zeroState(rows: 1)
        var total = 0.0
        for (position, symbol) in read.enumerated() {
            let step = reference.run(ReferenceBatch(inputs: [[symbol]], targets: [[nil]]), state: state, lossScale: 1)
            state = step.finalState
            #expect(abs(Double(analysis.activations[position]) - state[1].h[3]) < 1e-5, "\(cell) activation at \(position)")
            guard position + 1 < read.count else { continue }
            let p = step.probabilities[0][0], target = read[position + 1]
            let prediction = analysis.predictions[position]
            #expect(abs(Double(prediction.nats) + log(p[target])) < 1e-4, "\(cell) loss at \(position)")
            #expect(Int(prediction.rank) == 1 + p.indices.filter { p[$0] > p[target] }.count)
            #expect(Int(prediction.guess) == p.indices.max { p[$0] < p[$1] }!)
            total += Double(prediction.nats)
        }
        // The per-character losses are what the summary adds up.
        #expect(total == analysis.score.totalNats)
        #expect(try TextScore.score(read.map(UInt16.init), model: model).totalNats == analysis.score.totalNats)
    }

    @Test func theTableHasPositionsLinesAndColumns() throws {
        let analysis = try TextAnalysis.analyse(Self.text, alphabet: Self.alphabet, model: Self.model(.lstm))
        let rows = analysis.table(alphabet: Self.alphabet).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(rows.first == "position\tline\tcolumn\tchar\tnats\tbits\trank\tguess")
        #expect(rows.last == "")
        let cells = rows.dropFirst().dropLast().map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        #expect(cells.count == 11 && cells.allSatisfy { $0.count == 8 })
        // "ab c\nxba\n\ncab": every character but the first and the skipped x, with its place in the file.
        let expected: [(Int, Int, Int, String)] = [
            (1, 1, 2, "b"), (2, 1, 3, "␠"), (3, 1, 4, "c"), (4, 1, 5, "\\n"),
            (6, 2, 2, "b"), (7, 2, 3, "a"), (8, 2, 4, "\\n"), (9, 3, 1, "\\n"),
            (10, 4, 1, "c"), (11, 4, 2, "a"), (12, 4, 3, "b"),
        ]
        for (row, want) in zip(cells, expected) {
            #expect(row[0] == "\(want.0)" && row[1] == "\(want.1)" && row[2] == "\(want.2)" && row[3] == want.3, "\(row)")
        }
        for (row, prediction) in zip(cells, analysis.predictions) {
            #expect(abs(Double(row[4])! - Double(prediction.nats)) <= 5e-7)
            #expect(abs(Double(row[5])! - Double(prediction.nats) / log(2.0)) <= 5e-6)
            #expect(row[6] == "\(prediction.rank)")
        }
    }

    #if canImport(FoundationXML)
    /// The page's elements, walked in document order.
    static func elements(_ page: String) throws -> [XMLElement] {
        let document = try XMLDocument(xmlString: page, options: [])
        var all: [XMLElement] = []
        func walk(_ element: XMLElement) {
            all.append(element)
            for child in element.children ?? [] { if let child = child as? XMLElement { walk(child) } }
        }
        walk(document.rootElement()!)
        return all
    }

    static func rgb(_ style: String) -> [Int]? {
        guard style.hasPrefix("background-color:rgb("), style.hasSuffix(")") else { return nil }
        return style.dropFirst("background-color:rgb(".count).dropLast().split(separator: ",").map { Int($0) ?? -1 }
    }

    @Test(arguments: [false, true])
    func thePageHasOneSpanPerCharacterWithItsFigures(byUnit: Bool) throws {
        let model = Self.model(.gru)
        let unit = byUnit ? (layer: 0, index: 2) : nil
        let analysis = try TextAnalysis.analyse(Self.text, alphabet: Self.alphabet, model: model, unit: unit)
        let page = SurprisalPage.render(analysis, alphabet: Self.alphabet, title: "t.txt", model: "gru 8,5", unit: unit)
        #expect(page.hasPrefix("<!DOCTYPE html>\n<html"))
        let all = try Self.elements(page)
        #expect(all.first?.name == "html")
        #expect(all.contains { $0.name == "head" } && all.contains { $0.name == "body" })
        #expect(all.contains { $0.name == "meta" && $0.value(of: "charset") == "utf-8" })
        // Self-contained: no element or attribute that fetches anything.
        #expect(!all.contains { ["script", "link", "img", "iframe", "object", "embed"].contains($0.name ?? "") })
        #expect(!all.contains { $0.value(of: "src") != nil || $0.value(of: "href") != nil })
        #expect(!page.contains("url("))

        let text = try #require(all.first { $0.name == "pre" && $0.value(of: "class") == "text" })
        let spans = (text.children ?? []).compactMap { $0 as? XMLElement }
        #expect(spans.count == Self.text.count, "one span per character")
        var read = 0
        for (offset, span) in spans.enumerated() {
            #expect(span.name == "span" && span.value(of: "id") == "c\(offset)")
            let kind = span.value(of: "class")
            let scalar = Self.text[offset]
            #expect(span.stringValue == (scalar == 0x0A ? "↵" : String(Unicode.Scalar(scalar)!)))
            if scalar == 0x78 {
                #expect(kind == "skip")
                continue
            }
            #expect(kind == "c")
            let colour = try #require(Self.rgb(span.value(of: "style") ?? ""))
            #expect(colour.count == 3 && colour.allSatisfy { (0...255).contains($0) })
            #expect(span.value(of: "title")?.isEmpty == false)
            if let prediction = analysis.prediction(atRead: read) {
                let nats = try #require(Double(span.value(of: "data-nats") ?? ""))
                #expect(abs(nats - Double(prediction.nats)) <= 5e-7)
                #expect(span.value(of: "data-rank") == "\(prediction.rank)")
                #expect(
                    span.value(of: "data-guess")
                        == Alphabet.escaped(Self.alphabet.symbols[Int(prediction.guess)]))
                let expected =
                    byUnit
                    ? SurprisalPage.activationColour(analysis.activations[read])
                    : SurprisalPage.surprisalColour(bits: Double(prediction.nats) / log(2.0))
                #expect(colour == [expected.r, expected.g, expected.b])
            } else {
                #expect(read == 0 && span.value(of: "data-nats") == nil)
            }
            if byUnit {
                let value = try #require(Double(span.value(of: "data-unit") ?? ""))
                #expect(abs(value - Double(analysis.activations[read])) <= 5e-7)
            }
            read += 1
        }
    }
    #endif

    @Test func coloursStayInRangeAndGrowWithSurprise() {
        var previous = SurprisalPage.surprisalColour(bits: 0)
        #expect(previous == (255, 255, 255))
        for tenth in 1...120 {
            let colour = SurprisalPage.surprisalColour(bits: Double(tenth) / 10)
            for c in [colour.r, colour.g, colour.b] { #expect((0...255).contains(c)) }
            // Never lighter than the colour of a smaller surprise.
            #expect(colour.r + colour.g + colour.b <= previous.r + previous.g + previous.b)
            previous = colour
        }
        #expect(SurprisalPage.surprisalColour(bits: 1e9) == SurprisalPage.surprisalColour(bits: SurprisalPage.scaleBits))
        for a: Float in [-5, -1, -0.3, 0, 0.3, 1, 5, .nan] {
            let colour = SurprisalPage.activationColour(a)
            for c in [colour.r, colour.g, colour.b] { #expect((0...255).contains(c)) }
        }
        #expect(SurprisalPage.activationColour(0) == (255, 255, 255))
    }

    #if canImport(FoundationXML)
    @Test func everythingIsEscaped() throws {
        // Markup characters, quotes, control characters and U+FFFF in the text and the title.
        let alphabet = try Alphabet(symbols: [0x3C, 0x26, 0x22, 0x27, 0x3E, 0x01, 0x7F, 0x0D, 0x09, 0xFFFF, 0x0B], stopIndex: 10)
        let model = Model(initialising: ModelConfig(cell: .rnn, hiddenSizes: [4], alphabetSize: 11, seed: 1))
        let text: [UInt32] = [0x3C, 0x26, 0x22, 0x27, 0x3E, 0x01, 0x7F, 0x0D, 0x09, 0xFFFF, 0x3C, 0x2F, 0x70, 0x72, 0x65, 0x3E]
        let analysis = try TextAnalysis.analyse(text, alphabet: alphabet, model: model)
        let page = SurprisalPage.render(analysis, alphabet: alphabet, title: "</title><script>\u{1}&\"", model: "<b>")
        let all = try Self.elements(page)
        #expect(!all.contains { $0.name == "script" || $0.name == "b" })
        let title = try #require(all.first { $0.name == "title" })
        #expect(title.stringValue == "</title><script>\u{FFFD}&\"")
        let text_ = try #require(all.first { $0.name == "pre" })
        let shown = (text_.children ?? []).compactMap { ($0 as? XMLElement)?.stringValue }
        #expect(shown == ["<", "&", "\"", "'", ">", "\\u{1}", "\\u{7F}", "\\r", "\t", "\\u{FFFF}", "<", "/", "p", "r", "e", ">"])
    }
    #endif
}

#if canImport(FoundationXML)
private extension XMLElement {
    /// The attribute's value. (swift-corelibs-foundation's `attribute(forName:)`
    /// finds nothing in a document with a default namespace, as XHTML has.)
    func value(of name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
}
#endif
