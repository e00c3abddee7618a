// The loss plot parsed back as XML: well-formed, one line per series with the
// right points, legend and axis titles present, labels escaped, edge cases
// (one epoch, missing validation, hundreds of epochs, changed runs) drawn.

@testable import CharRNN
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct LossPlotTests {
    /// A history whose losses fall from `start`; `validation` nil means none held out.
    static func history(
        epochs: Int, start: Double = 3.0, validation: ((Int) -> Double?)? = { _ in nil },
        flags: [Int: EpochRecord.Flags] = [:]
    ) -> [EpochRecord] {
        (1...epochs).map { epoch in
            let train = start / (1 + 0.1 * Double(epoch))
            let held = validation.map { $0(epoch) ?? .nan } ?? .nan
            return EpochRecord(
                epoch: epoch, flags: flags[epoch] ?? [], learningRate: 0.002, trainLoss: train,
                validationLoss: held, charsPerSecond: 0, seconds: 0, textHash: 1, textLength: 100,
                optimizerStep: UInt64(epoch))
        }
    }

    static func withValidation(epochs: Int, start: Double = 3.0) -> [EpochRecord] {
        history(epochs: epochs, start: start, validation: { start / (1 + 0.08 * Double($0)) })
    }

    /// The parsed document: every element, in document order.
    struct Parsed {
        let root: XMLElement
        let elements: [XMLElement]

        init(_ svg: String) throws {
            let document = try XMLDocument(xmlString: svg, options: [])
            root = try #require(document.rootElement())
            var all: [XMLElement] = []
            func walk(_ element: XMLElement) {
                all.append(element)
                for child in element.children ?? [] {
                    if let child = child as? XMLElement { walk(child) }
                }
            }
            walk(root)
            elements = all
        }

        func all(_ name: String, class kind: String? = nil) -> [XMLElement] {
            elements.filter { element in
                element.name == name && (kind.map { element.attribute("class")?.split(separator: " ").contains(Substring($0)) ?? false } ?? true)
            }
        }

        func path(_ series: String) -> XMLElement? {
            all("path").first { $0.attribute("data-series") == series }
        }

        /// Texts inside the group of class `kind`.
        func texts(in kind: String) -> [String] {
            guard let group = all("g", class: kind).first else { return [] }
            return (group.children ?? []).compactMap { $0 as? XMLElement }.filter { $0.name == "text" }.map { $0.stringValue ?? "" }
        }

        var frame: (left: Double, top: Double, right: Double, bottom: Double) {
            let rect = all("rect", class: "frame")[0]
            let x = Double(rect.attribute("x")!)!, y = Double(rect.attribute("y")!)!
            return (x, y, x + Double(rect.attribute("width")!)!, y + Double(rect.attribute("height")!)!)
        }
    }

    /// The points of a path's `d`, and how many separate stretches (M commands) it has.
    static func points(_ path: XMLElement) -> (points: [(x: Double, y: Double)], stretches: Int) {
        let commands = (path.attribute("d") ?? "").split(separator: " ")
        let points = commands.map { command -> (x: Double, y: Double) in
            let pair = command.dropFirst().split(separator: ",")
            return (Double(pair[0])!, Double(pair[1])!)
        }
        return (points, commands.filter { $0.hasPrefix("M") }.count)
    }

    @Test func twoRunsOverlaidAreWellFormedWithFourSeries() throws {
        let runs = [
            LabelledHistory(label: "lstm", history: Self.withValidation(epochs: 5)),
            LabelledHistory(label: "rnn", history: Self.withValidation(epochs: 3, start: 3.5)),
        ]
        let svg = try LossPlot.svg(runs)
        #expect(svg.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\""))
        let parsed = try Parsed(svg)
        #expect(parsed.root.name == "svg")
        let frame = parsed.frame
        for (label, count) in [("lstm", 5), ("rnn", 3)] {
            let train = try #require(parsed.path("\(label) train"))
            let validation = try #require(parsed.path("\(label) validation"))
            for path in [train, validation] {
                let (points, stretches) = Self.points(path)
                #expect(points.count == count && stretches == 1)
                #expect(zip(points, points.dropFirst()).allSatisfy { $0.x < $1.x }, "x goes up with the epoch")
                #expect(points.allSatisfy { frame.left < $0.x && $0.x < frame.right && frame.top <= $0.y && $0.y <= frame.bottom })
                // Losses fall, so the curve rises on screen (SVG's y grows downwards).
                #expect(zip(points, points.dropFirst()).allSatisfy { $0.y < $1.y })
            }
            #expect(train.attribute("stroke") == validation.attribute("stroke"), "one colour per run")
            #expect(train.attribute("stroke-dasharray") == nil && validation.attribute("stroke-dasharray") != nil)
            let markers = parsed.all("g", class: "markers").filter { $0.attribute("data-series")?.hasPrefix(label + " ") == true }
            #expect(markers.map { ($0.children ?? []).count } == [count, count], "a marked point per epoch")
        }
        #expect(parsed.path("lstm train")?.attribute("stroke") != parsed.path("rnn train")?.attribute("stroke"))
        #expect(parsed.texts(in: "legend") == ["lstm train", "lstm validation", "rnn train", "rnn validation"])
        let axisTitles = parsed.all("text", class: "axis-title").map(\.stringValue)
        #expect(axisTitles == ["epoch", "loss (nats/char)"])
        #expect(parsed.all("text", class: "title").first?.stringValue == LossPlot.defaultTitle)
        #expect(parsed.texts(in: "x-axis") == ["1", "2", "3", "4", "5"])
        #expect(try LossPlot.svg(runs) == svg, "same histories, same bytes")
    }

    @Test func lossTicksAreNiceAndCoverTheData() throws {
        let runs = [LabelledHistory(label: "a", history: Self.withValidation(epochs: 20, start: 4.2))]
        let parsed = try Parsed(try LossPlot.svg(runs))
        let labels = parsed.texts(in: "y-axis")
        let values = labels.map { Double($0)! }
        #expect(values.count >= 4 && values.count <= 8, "\(labels)")
        let steps = Set(zip(values, values.dropFirst()).map { (($1 - $0) * 1000).rounded() })
        #expect(steps.count == 1, "evenly spaced: \(labels)")
        // The step is 1, 2 or 5 times a power of ten.
        var step = (values[1] - values[0])
        while step >= 10 { step /= 10 }
        while step < 1 { step *= 10 }
        #expect([1.0, 2.0, 5.0].contains { abs($0 - step) < 1e-6 }, "\(labels)")
        #expect(Set(labels.map { $0.split(separator: ".").last?.count ?? 0 }).count == 1, "same decimals: \(labels)")
        let losses = runs[0].history.flatMap { [$0.trainLoss, $0.validationLoss] }
        #expect(values.first! <= losses.min()! && losses.max()! <= values.last!)
        #expect(values.first! >= 0)
        #expect(parsed.texts(in: "x-axis") == ["2", "4", "6", "8", "10", "12", "14", "16", "18", "20"])
    }

    @Test func labelsAreEscaped() throws {
        let label = "a<b&\"c\" 'd'\u{1}>"
        let svg = try LossPlot.svg([LabelledHistory(label: label, history: Self.withValidation(epochs: 2))], title: "x < y & z")
        #expect(svg.contains("a&lt;b&amp;&quot;c&quot; &apos;d&apos;\u{FFFD}&gt;"))
        let parsed = try Parsed(svg)
        let shown = "a<b&\"c\" 'd'\u{FFFD}>"
        #expect(parsed.path("\(shown) train") != nil && parsed.path("\(shown) validation") != nil)
        #expect(parsed.texts(in: "legend") == ["\(shown) train", "\(shown) validation"])
        #expect(parsed.all("title").first?.stringValue == "x < y & z")
    }

    @Test func oneEpochIsOnePointUnderItsOwnTick() throws {
        let parsed = try Parsed(try LossPlot.svg([LabelledHistory(label: "e1", history: Self.withValidation(epochs: 1))]))
        let frame = parsed.frame
        for series in ["e1 train", "e1 validation"] {
            let (points, _) = Self.points(try #require(parsed.path(series)))
            #expect(points.count == 1)
            #expect(abs(points[0].x - (frame.left + frame.right) / 2) < 0.01)
        }
        #expect(parsed.all("circle").count == 2 + 2, "two plotted points, two legend swatches")
        #expect(parsed.texts(in: "x-axis") == ["1"])
        #expect(parsed.texts(in: "y-axis").count >= 3, "a single value still gets a scale")
    }

    @Test func missingValidationLossesLeaveGaps() throws {
        let gappy = Self.history(epochs: 6, validation: { $0 == 3 || $0 == 4 ? nil : 2.5 - 0.1 * Double($0) })
        let runs = [
            LabelledHistory(label: "gappy", history: gappy),
            LabelledHistory(label: "none held out", history: Self.history(epochs: 6)),
        ]
        let parsed = try Parsed(try LossPlot.svg(runs))
        let (points, stretches) = Self.points(try #require(parsed.path("gappy validation")))
        #expect(points.count == 4 && stretches == 2)
        #expect(Self.points(try #require(parsed.path("gappy train"))).points.count == 6)
        #expect(parsed.path("none held out validation") == nil)
        #expect(parsed.texts(in: "legend").contains("none held out validation (none recorded)"))
    }

    @Test func hundredsOfEpochsDrawLinesWithoutCrowdedMarkers() throws {
        let runs = [LabelledHistory(label: "long", history: Self.withValidation(epochs: 400))]
        let svg = try LossPlot.svg(runs)
        let parsed = try Parsed(svg)
        #expect(Self.points(try #require(parsed.path("long train"))).points.count == 400)
        #expect(parsed.all("g", class: "markers").isEmpty, "400 points in 536 px would be a smear")
        #expect(parsed.texts(in: "x-axis") == ["50", "100", "150", "200", "250", "300", "350", "400"])
        #expect(svg.utf8.count < 60_000)
    }

    @Test func changedRunsAreMarkedWhereTheyChanged() throws {
        let history = Self.withValidation(epochs: 6).enumerated().map { index, record in
            var record = record
            if index == 2 { record.flags = [.optimizerReset] }
            if index == 4 { record.flags = [.settingsChanged, .timingOmitted] }
            return record
        }
        let parsed = try Parsed(try LossPlot.svg([LabelledHistory(label: "run", history: history)]))
        let events = parsed.all("g", class: "events").first.map { ($0.children ?? []).compactMap { $0 as? XMLElement } } ?? []
        #expect(events.map(\.stringValue) == ["run: optimizer reset before epoch 3", "run: settings changed before epoch 5"])
        // Halfway between the epoch before and the epoch itself.
        let train = Self.points(try #require(parsed.path("run train"))).points
        #expect(abs(Double(events[0].attribute("x1")!)! - (train[1].x + train[2].x) / 2) < 0.01)
        // One legend entry per kind of change that occurs, each with its own label.
        #expect(parsed.texts(in: "legend").suffix(2) == ["optimizer reset before this epoch", "settings changed before this epoch"])
    }

    /// Each kind of change has its own dashes, symbol and legend entry, and
    /// several at once are all shown.
    @Test func eachKindOfChangeIsMarkedItsOwnWay() throws {
        let history = Self.withValidation(epochs: 6).enumerated().map { index, record in
            var record = record
            if index == 1 { record.flags = [.optimizerReset] }
            if index == 3 { record.flags = [.settingsChanged] }
            if index == 5 { record.flags = [.textChanged, .optimizerReset] }
            return record
        }
        let parsed = try Parsed(try LossPlot.svg([LabelledHistory(label: "run", history: history)]))
        let lines = parsed.all("g", class: "events").first.map { ($0.children ?? []).compactMap { $0 as? XMLElement } } ?? []
        #expect(lines.map { $0.attribute("class") ?? "" } == ["optimizer-reset", "settings-changed", "optimizer-reset", "new-text"])
        let dashes = Dictionary(lines.map { ($0.attribute("class")!, $0.attribute("stroke-dasharray")!) }) { a, _ in a }
        #expect(Set(dashes.values).count == 3, "three different dash patterns: \(dashes)")
        #expect(!dashes.values.contains("7 4"), "none is the validation curve's")
        let symbols = parsed.all("path", class: "symbol").map { $0.attribute("class")! }
        // Three on the plot for the last epoch's two and the others' one each, one in each legend entry.
        #expect(symbols.filter { $0.hasSuffix("optimizer-reset") }.count == 2 + 1)
        #expect(symbols.filter { $0.hasSuffix("settings-changed") }.count == 1 + 1)
        #expect(symbols.filter { $0.hasSuffix("new-text") }.count == 1 + 1)
        #expect(
            parsed.texts(in: "legend").suffix(3) == [
                "optimizer reset before this epoch", "settings changed before this epoch",
                "new text (and held-out set) from this epoch",
            ])
    }

    /// Validation losses on two different held-out sets are not joined: a new text breaks the line.
    @Test func aNewTextBreaksTheValidationLine() throws {
        let history = Self.withValidation(epochs: 6).enumerated().map { index, record in
            var record = record
            if index == 3 { record.flags = [.textChanged] }
            return record
        }
        let parsed = try Parsed(try LossPlot.svg([LabelledHistory(label: "tuned", history: history)]))
        let validation = Self.points(try #require(parsed.path("tuned validation")))
        #expect(validation.points.count == 6 && validation.stretches == 2)
        let train = Self.points(try #require(parsed.path("tuned train")))
        #expect(train.points.count == 6 && train.stretches == 1, "the training loss is one curve")
    }

    /// The legend lies below the plot and takes the plot's width: long labels add
    /// rows, not empty space at the side.
    @Test func theLegendDoesNotWidenThePicture() throws {
        func plot(_ labels: [String]) throws -> (width: Double, height: Double, parsed: Parsed) {
            let runs = labels.map { LabelledHistory(label: $0, history: Self.withValidation(epochs: 4)) }
            let parsed = try Parsed(try LossPlot.svg(runs))
            return (Double(parsed.root.attribute("width")!)!, Double(parsed.root.attribute("height")!)!, parsed)
        }
        let short = try plot(["a"])
        let long = try plot(["runs/lstm-128x128-lr0.002/e010", "runs/mlstm-114x114-lr0.002/e010", "runs/rnn-256x256/e010"])
        #expect(long.width == short.width, "the same width whatever the labels")
        #expect(long.height > short.height, "more rows instead")
        let frame = long.parsed.frame
        #expect(short.width - frame.right < 40, "no empty band beside the plot")
        for text in long.parsed.all("g", class: "legend").first!.children!.compactMap({ $0 as? XMLElement }) where text.name == "text" {
            let x = Double(text.attribute("x")!)!, y = Double(text.attribute("y")!)!
            #expect(y > frame.bottom, "below the plot")
            #expect(x + SVGText.estimatedWidth(text.stringValue ?? "", fontSize: 12) <= long.width, "inside the picture")
        }
    }

    @Test func historiesWithNothingToDrawAreRefused() {
        #expect(throws: LossPlotError.noRuns) { try LossPlot.svg([]) }
        let fine = LabelledHistory(label: "fine", history: Self.withValidation(epochs: 2))
        #expect(throws: LossPlotError.emptyHistory(index: 1, label: "fresh")) {
            try LossPlot.svg([fine, LabelledHistory(label: "fresh", history: [])])
        }
        var broken = Self.history(epochs: 2)
        for index in broken.indices { broken[index].trainLoss = .infinity }
        #expect(throws: LossPlotError.noFiniteLoss(index: 0, label: "broken")) {
            try LossPlot.svg([LabelledHistory(label: "broken", history: broken), fine])
        }
        #expect(LossPlotError.emptyHistory(index: 0, label: "e0").description == "e0 has no training history to plot")
    }

    /// A history may hold any loss (the format allows every value); the axis cannot pad
    /// and subdivide a range near the largest doubles, so such a loss is refused, not
    /// drawn (it made the axis overflow and the tool die). Up to 1e15 is drawn.
    @Test func aLossTooLargeToPlotIsRefused() throws {
        var huge = Self.withValidation(epochs: 3)
        huge[1].trainLoss = .greatestFiniteMagnitude
        #expect(throws: LossPlotError.lossTooLarge(index: 1, label: "huge", loss: .greatestFiniteMagnitude)) {
            try LossPlot.svg([LabelledHistory(label: "fine", history: Self.withValidation(epochs: 2)), LabelledHistory(label: "huge", history: huge)])
        }
        #expect(
            LossPlotError.lossTooLarge(index: 0, label: "e1", loss: -1e300).description
                == "e1: a loss of -1e+300 nats/char is too large to plot (the loss axis goes to 1000000000000.0)")
        // The largest losses drawn, alone and with their neighbours a hair apart (the axis
        // needs a span of 0.1 there, which doubles near 1e15 could not hold: a fuzzer's find).
        for (first, second) in [(1e12, -1e12), (1e12, 1e12 - 0.01), (-1e12, -1e12)] {
            huge[1].trainLoss = first
            huge[2].validationLoss = second
            _ = try LossPlot.svg([LabelledHistory(label: "large", history: huge)])
        }
        huge[1].trainLoss = 1e15
        huge[2].validationLoss = 1e15 - 0.01
        #expect(throws: LossPlotError.lossTooLarge(index: 0, label: "large", loss: 1e15)) {
            try LossPlot.svg([LabelledHistory(label: "large", history: huge)])
        }
    }

    @Test func defaultLabelsUseJustEnoughOfThePath() {
        #expect(LossPlot.defaultLabels(forPaths: ["runs/lstm/e010.ckpt", "runs/rnn/e010.ckpt"]) == ["lstm/e010", "rnn/e010"])
        #expect(LossPlot.defaultLabels(forPaths: ["a.ckpt", "/tmp/b/c.ckpt"]) == ["a", "c"])
        #expect(LossPlot.defaultLabels(forPaths: ["x/a/e1.ckpt", "y/a/e1.ckpt", "e1.ckpt"]) == ["x/a/e1", "y/a/e1", "e1"])
        #expect(LossPlot.defaultLabels(forPaths: ["-", "./e1.ckpt", "model.bin", ".ckpt"]) == ["stdin", "e1", "model.bin", ".ckpt"])
        #expect(LossPlot.defaultLabels(forPaths: ["same.ckpt", "same.ckpt"]) == ["same", "same"])
    }
}

private extension XMLElement {
    /// The attribute's value. (swift-corelibs-foundation's `attribute(forName:)`
    /// finds nothing in a document with a default namespace, as SVG has.)
    func attribute(_ name: String) -> String? { attributes?.first { $0.name == name }?.stringValue }
}
