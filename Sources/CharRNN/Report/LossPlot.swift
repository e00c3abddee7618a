// Loss curves as a standalone SVG image: train and validation loss per epoch
// for one or more checkpoints' histories, for `charrnn-inspect --plot`.
//
// The SVG is written by hand (no dependency) and is the same bytes for the
// same histories. Each run gets one colour from the Okabe–Ito palette, which
// stays distinguishable with the common colour-vision deficiencies; train is
// a solid line with filled points, validation a dashed line with hollow
// points, so the two also differ in grey scale. Epochs that began after a
// change are marked by a vertical line and a symbol per kind of change (an
// optimizer reset ▼, changed settings ◆, a new text ■), each with its own
// dash pattern and legend entry. The legend sits below the plot area, as wide
// as the plot, where it can never hide a curve or widen the picture.

/// One checkpoint's history under the name the plot gives it, with the
/// validation losses measured inside its epochs (charrnn-epoch --val-every).
public struct LabelledHistory: Equatable, Sendable {
    public var label: String
    public var history: [EpochRecord]
    public var points: [ValidationPoint]

    public init(label: String, history: [EpochRecord], points: [ValidationPoint] = []) {
        self.label = label
        self.history = history
        self.points = points
    }
}

/// Why a plot could not be drawn. `index` is the run's position in the input.
public enum LossPlotError: Error, Equatable, CustomStringConvertible {
    /// No histories were given.
    case noRuns
    /// The run has no epochs at all (a fresh model, or a vocab checkpoint).
    case emptyHistory(index: Int, label: String)
    /// Every loss in the run's history is NaN or infinite, so no point can be drawn.
    case noFiniteLoss(index: Int, label: String)
    /// A loss beyond what the loss axis can scale to (a legal value in a history, but no loss of a trained model).
    case lossTooLarge(index: Int, label: String, loss: Double)

    /// The largest loss magnitude the plot draws, in nats per character: the axis
    /// needs a span of at least 0.1 to stay apart in doubles (their spacing near
    /// 1e12 is 1e-4; near 2e14 it passes 0.05).
    public static let largestLoss = 1e12

    public var description: String {
        switch self {
        case .noRuns: "no training histories to plot"
        case .emptyHistory(_, let label): "\(label) has no training history to plot"
        case .noFiniteLoss(_, let label): "\(label) has no finite losses to plot"
        case .lossTooLarge(_, let label, let loss):
            "\(label): a loss of \(loss) nats/char is too large to plot (the loss axis goes to \(LossPlotError.largestLoss))"
        }
    }
}

public enum LossPlot {
    /// Okabe–Ito colours, darkest first; yellow, hard to see on white, comes last.
    public static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]

    public static let defaultTitle = "Training and validation loss per epoch"

    /// The SVG document for `runs`, in order; run i is drawn in `palette[i % 8]`.
    ///
    /// A point is drawn for every record whose loss is finite. Records
    /// without a validation loss (NaN: nothing was held out) leave a gap in
    /// the dashed line instead of a line across them, and so does an epoch
    /// number that fails to go up. A validation loss measured inside epoch e,
    /// after k of its n sequences, is a point of the dashed line at e − 1 + k/n
    /// (epoch e's record sits at e). Points get markers while neighbouring
    /// epochs are at least 4 px apart; with hundreds of epochs the lines
    /// alone are clearer. Epochs before which
    /// the optimizer was reset, the settings changed or the text changed
    /// (the HIST flags) are marked by a vertical line in the run's colour,
    /// dashed after the kind of change, and its symbol at the top, since the
    /// curve may jump there. A new text also means a new held-out set, so the
    /// validation line is not drawn across it.
    public static func svg(_ runs: [LabelledHistory], title: String = defaultTitle) throws -> String {
        guard !runs.isEmpty else { throw LossPlotError.noRuns }
        let plotted = runs.enumerated().map { index, run in
            PlottedRun(run, colour: palette[index % palette.count])
        }
        for (index, run) in plotted.enumerated() where run.train.isEmpty && run.validation.isEmpty {
            throw runs[index].history.isEmpty
                ? LossPlotError.emptyHistory(index: index, label: run.label)
                : LossPlotError.noFiniteLoss(index: index, label: run.label)
        }
        // The axis pads and subdivides the range of the losses: near the largest doubles that overflows.
        for (index, run) in plotted.enumerated() {
            if let point = run.allPoints.first(where: { $0.loss.magnitude > LossPlotError.largestLoss }) {
                throw LossPlotError.lossTooLarge(index: index, label: run.label, loss: point.loss)
            }
        }
        return Drawing(runs: plotted, title: title).document()
    }

    /// Labels for checkpoints named by `paths`: each path's last component
    /// without `.ckpt`, or as many trailing components as it takes for the
    /// labels to differ ("lstm/e010" and "rnn/e010"). "-" is "stdin".
    public static func defaultLabels(forPaths paths: [String]) -> [String] {
        let components: [[String]] = paths.map { path in
            if path == "-" { return ["stdin"] }
            var parts = path.split(separator: "/").map(String.init).filter { $0 != "." }
            if parts.isEmpty { return [path] }
            if let last = parts.last, last.hasSuffix(".ckpt"), last.count > 5 {
                parts[parts.count - 1] = String(last.dropLast(5))
            }
            return parts
        }
        let deepest = components.map(\.count).max() ?? 1
        var labels: [String] = []
        for depth in 1...max(deepest, 1) {
            labels = components.map { $0.suffix(depth).joined(separator: "/") }
            if Set(labels).count == labels.count { break }
        }
        return labels
    }
}

/// The changes the history flags, each drawn its own way.
enum EventKind: CaseIterable {
    case optimizerReset, settingsChanged, textChanged

    var flag: EpochRecord.Flags {
        switch self {
        case .optimizerReset: .optimizerReset
        case .settingsChanged: .settingsChanged
        case .textChanged: .textChanged
        }
    }

    /// As the history's notes say it (CheckpointReport.historyNotes).
    var name: String {
        switch self {
        case .optimizerReset: "optimizer reset"
        case .settingsChanged: "settings changed"
        case .textChanged: "new text"
        }
    }

    /// The legend's label.
    var legendText: String {
        switch self {
        case .optimizerReset: "optimizer reset before this epoch"
        case .settingsChanged: "settings changed before this epoch"
        case .textChanged: "new text (and held-out set) from this epoch"
        }
    }

    var className: String {
        switch self {
        case .optimizerReset: "optimizer-reset"
        case .settingsChanged: "settings-changed"
        case .textChanged: "new-text"
        }
    }

    /// Dotted, dash-dot and long dashes; none is the validation curve's "7 4".
    var dashes: String {
        switch self {
        case .optimizerReset: "1 3"
        case .settingsChanged: "6 3 1 3"
        case .textChanged: "12 4"
        }
    }

    /// The symbol centred on (x, y): a triangle pointing down, a diamond, a square.
    func symbol(x: Double, y: Double, fill: String) -> String {
        let c = SVGText.coordinate
        let points: [(Double, Double)]
        switch self {
        case .optimizerReset: points = [(x - 5, y - 4), (x + 5, y - 4), (x, y + 4)]
        case .settingsChanged: points = [(x, y - 5), (x + 5, y), (x, y + 5), (x - 5, y)]
        case .textChanged: points = [(x - 4, y - 4), (x + 4, y - 4), (x + 4, y + 4), (x - 4, y + 4)]
        }
        let d = points.enumerated().map { ($0 == 0 ? "M" : "L") + c($1.0) + "," + c($1.1) }.joined(separator: " ") + " Z"
        return "<path class=\"symbol \(className)\" d=\"\(d)\" fill=\"\(fill)\" stroke=\"#ffffff\" stroke-width=\"1\"/>"
    }
}

/// A run's points, split into the stretches that a line joins.
private struct PlottedRun {
    /// `x`: the epoch, or where inside an epoch; `name` says it in a tooltip.
    struct Point { let x: Double; let loss: Double; let name: String }
    /// Something that happened before `epoch` (HIST flags).
    struct Event { let epoch: Int; let kinds: [EventKind] }

    let label: String
    let colour: String
    let train: [[Point]]
    let validation: [[Point]]
    let events: [Event]

    init(_ run: LabelledHistory, colour: String) {
        label = run.label
        self.colour = colour
        train = Self.stretches(Self.entries(run.history, \.trainLoss), breakAtNewText: false)
        validation = Self.stretches(Self.entries(run.history, \.validationLoss, points: run.points), breakAtNewText: true)
        events = run.history.dropFirst().compactMap { record in
            let kinds = EventKind.allCases.filter { record.flags.contains($0.flag) }
            return kinds.isEmpty ? nil : Event(epoch: record.epoch, kinds: kinds)
        }
    }

    var allPoints: [Point] { (train + validation).flatMap { $0 } }

    /// Runs of consecutive records with a finite loss; a missing loss or an
    /// epoch number that does not go up starts a new stretch, and so does a
    /// new text when `breakAtNewText` (validation losses measured on two
    /// different held-out sets are not joined).
    /// One entry of a series, in order: a point, and whether it opens an epoch on a new text.
    struct Entry { let point: Point; let newText: Bool }

    /// The records' losses, each preceded by the points measured inside its epoch;
    /// the points of an epoch with no record yet (a partial epoch) come last.
    static func entries(_ history: [EpochRecord], _ loss: KeyPath<EpochRecord, Double>, points: [ValidationPoint] = []) -> [Entry] {
        var entries: [Entry] = []
        var next = points.startIndex
        func inside(_ point: ValidationPoint, newText: Bool) -> Entry {
            Entry(
                point: Point(
                    x: point.epochPosition, loss: point.validationLoss,
                    name: "epoch \(point.epoch) after \(point.sequencesDone) of \(point.sequences) sequences"),
                newText: newText)
        }
        for record in history {
            var opensEpoch = record.flags.contains(.textChanged)
            while next < points.endIndex, points[next].epoch <= record.epoch {
                if points[next].epoch == record.epoch {
                    entries.append(inside(points[next], newText: opensEpoch))
                    opensEpoch = false
                }
                next += 1
            }
            entries.append(
                Entry(point: Point(x: Double(record.epoch), loss: record[keyPath: loss], name: "epoch \(record.epoch)"), newText: opensEpoch))
        }
        let lastEpoch = history.last?.epoch ?? 0
        for point in points[next...] where point.epoch > lastEpoch { entries.append(inside(point, newText: false)) }
        return entries
    }

    static func stretches(_ entries: [Entry], breakAtNewText: Bool) -> [[Point]] {
        var result: [[Point]] = []
        var current: [Point] = []
        for entry in entries {
            let value = entry.point.loss
            let newText = breakAtNewText && entry.newText
            let continues = !newText && (current.last.map { entry.point.x > $0.x } ?? true)
            if !value.isFinite || !continues {
                if !current.isEmpty { result.append(current) }
                current = []
            }
            if value.isFinite { current.append(entry.point) }
        }
        if !current.isEmpty { result.append(current) }
        return result
    }
}

/// Lays out and writes one plot.
private struct Drawing {
    let runs: [PlottedRun]
    let title: String

    // Sizes in pixels; text is 12 px, the title 15 px.
    static let fontSize = 12.0
    static let titleSize = 15.0
    static let plotWidth = 560.0
    static let plotHeight = 320.0
    static let plotTop = 44.0
    /// Space between the frame and the first and last epoch, so edge points are not cut by the frame.
    static let innerPadding = 12.0
    static let legendRow = 20.0
    static let legendSwatch = 32.0

    let epochAxis: PlotAxis
    let lossAxis: PlotAxis
    /// The smallest step along a line, in epochs (points inside epochs lie closer than 1), or nil.
    let closestPoints: Double?
    let plotLeft: Double

    init(runs: [PlottedRun], title: String) {
        self.runs = runs
        self.title = title
        let points = runs.flatMap(\.allPoints)
        let epochs = points.map(\.x), losses = points.map(\.loss)
        // A point inside an epoch widens the axis to the whole epochs around it.
        epochAxis = PlotAxis.epochs(first: Int(epochs.min()!.rounded(.down)), last: Int(epochs.max()!.rounded(.up)))
        closestPoints = runs.flatMap { $0.train + $0.validation }.flatMap { stretch in zip(stretch.dropFirst(), stretch).map { $0.x - $1.x } }.min()
        let lossAxis = PlotAxis.values(minimum: losses.min()!, maximum: losses.max()!, minimumSpan: 0.1)
        self.lossAxis = lossAxis
        let widestTick = lossAxis.ticks.map { SVGText.estimatedWidth(lossAxis.label($0), fontSize: Self.fontSize) }.max()!
        // Axis title, gap, tick labels, gap, tick marks.
        plotLeft = (14 + 4 + Self.fontSize + 8 + widestTick + 10).rounded(.up)
    }

    var plotRight: Double { plotLeft + Self.plotWidth }
    var plotBottom: Double { Self.plotTop + Self.plotHeight }

    func x(_ epoch: Double) -> Double {
        let usable = Self.plotWidth - 2 * Self.innerPadding
        return plotLeft + Self.innerPadding + (epoch - epochAxis.lower) / (epochAxis.upper - epochAxis.lower) * usable
    }

    func y(_ loss: Double) -> Double {
        plotBottom - (loss - lossAxis.lower) / (lossAxis.upper - lossAxis.lower) * Self.plotHeight
    }

    /// Pixels between neighbouring epochs; points are marked only when they do not crowd each other.
    var markerRadius: Double? {
        let spacing = x(epochAxis.lower + min(1, closestPoints ?? 1)) - x(epochAxis.lower)
        if spacing >= 8 { return 3 }
        if spacing >= 4 { return 1.75 }
        return nil
    }

    // MARK: The document

    func document() -> String {
        let legend = legendEntries()
        let grid = legendGrid(legend)
        let legendTop = plotBottom + 60
        // The plot's width, unless a single legend entry is wider than the plot itself.
        let width = max(plotRight + 16, plotLeft + grid.cellWidth + 16).rounded(.up)
        let height = (legendTop + Double(grid.rows) * Self.legendRow + 4).rounded(.up)
        let c = SVGText.coordinate
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(c(width))" height="\(c(height))" \
            viewBox="0 0 \(c(width)) \(c(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" \
            font-size="\(c(Self.fontSize))" role="img">
            <title>\(SVGText.escaped(title))</title>
            <rect class="background" width="\(c(width))" height="\(c(height))" fill="#ffffff"/>
            <text class="title" x="\(c(plotLeft + Self.plotWidth / 2))" y="\(c(Self.plotTop - 18))" \
            text-anchor="middle" font-size="\(c(Self.titleSize))" font-weight="bold">\(SVGText.escaped(title))</text>

            """
        svg += axes()
        svg += events()
        for run in runs { svg += lines(of: run) }
        for run in runs { svg += markers(of: run) }
        svg += eventSymbols()
        svg += legendGroup(legend, grid: grid, top: legendTop)
        svg += "</svg>\n"
        return svg
    }

    func axes() -> String {
        let c = SVGText.coordinate
        var out = "<g class=\"grid\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n"
        for tick in lossAxis.ticks {
            out += "<line x1=\"\(c(plotLeft))\" y1=\"\(c(y(tick)))\" x2=\"\(c(plotRight))\" y2=\"\(c(y(tick)))\"/>\n"
        }
        for tick in epochAxis.ticks {
            out += "<line x1=\"\(c(x(tick)))\" y1=\"\(c(Self.plotTop))\" x2=\"\(c(x(tick)))\" y2=\"\(c(plotBottom))\"/>\n"
        }
        out += "</g>\n"
        out +=
            "<rect class=\"frame\" x=\"\(c(plotLeft))\" y=\"\(c(Self.plotTop))\" width=\"\(c(Self.plotWidth))\" "
            + "height=\"\(c(Self.plotHeight))\" fill=\"none\" stroke=\"#333333\" stroke-width=\"1\"/>\n"
        out += "<g class=\"x-axis\" text-anchor=\"middle\" fill=\"#333333\">\n"
        for tick in epochAxis.ticks {
            out += "<line x1=\"\(c(x(tick)))\" y1=\"\(c(plotBottom))\" x2=\"\(c(x(tick)))\" y2=\"\(c(plotBottom + 5))\" stroke=\"#333333\"/>\n"
            out += "<text x=\"\(c(x(tick)))\" y=\"\(c(plotBottom + 19))\">\(epochAxis.label(tick))</text>\n"
        }
        out += "</g>\n"
        out += "<g class=\"y-axis\" text-anchor=\"end\" fill=\"#333333\">\n"
        for tick in lossAxis.ticks {
            out += "<line x1=\"\(c(plotLeft - 5))\" y1=\"\(c(y(tick)))\" x2=\"\(c(plotLeft))\" y2=\"\(c(y(tick)))\" stroke=\"#333333\"/>\n"
            out += "<text x=\"\(c(plotLeft - 8))\" y=\"\(c(y(tick) + 4))\">\(lossAxis.label(tick))</text>\n"
        }
        out += "</g>\n"
        let yTitleX = 18.0, middle = Self.plotTop + Self.plotHeight / 2
        out +=
            "<text class=\"axis-title\" x=\"\(c(plotLeft + Self.plotWidth / 2))\" y=\"\(c(plotBottom + 42))\" "
            + "text-anchor=\"middle\">epoch</text>\n"
        out +=
            "<text class=\"axis-title\" x=\"\(c(yTitleX))\" y=\"\(c(middle))\" text-anchor=\"middle\" "
            + "transform=\"rotate(-90 \(c(yTitleX)) \(c(middle)))\">loss (nats/char)</text>\n"
        return out
    }

    /// Half an epoch before `epoch`, within the axis.
    func eventX(_ epoch: Int) -> Double {
        x(min(max(Double(epoch) - 0.5, epochAxis.lower), epochAxis.upper))
    }

    /// A vertical line half an epoch before each epoch that started after a
    /// change, one per kind of change, dashed after the kind.
    func events() -> String {
        guard runs.contains(where: { !$0.events.isEmpty }) else { return "" }
        let c = SVGText.coordinate
        var out = "<g class=\"events\" stroke-width=\"1.5\">\n"
        for run in runs {
            for event in run.events {
                for kind in event.kinds {
                    let note = "\(run.label): \(kind.name) before epoch \(event.epoch)"
                    out +=
                        "<line class=\"\(kind.className)\" data-series=\"\(SVGText.escaped(run.label))\" "
                        + "x1=\"\(c(eventX(event.epoch)))\" y1=\"\(c(Self.plotTop))\" x2=\"\(c(eventX(event.epoch)))\" "
                        + "y2=\"\(c(plotBottom))\" stroke=\"\(run.colour)\" stroke-dasharray=\"\(kind.dashes)\">"
                        + "<title>\(SVGText.escaped(note))</title></line>\n"
                }
            }
        }
        out += "</g>\n"
        return out
    }

    /// Each event's symbols at the top of its line, one below the other, above the curves.
    func eventSymbols() -> String {
        guard runs.contains(where: { !$0.events.isEmpty }) else { return "" }
        var out = "<g class=\"event-symbols\">\n"
        for run in runs {
            for event in run.events {
                for (row, kind) in event.kinds.enumerated() {
                    out += kind.symbol(x: eventX(event.epoch), y: Self.plotTop + 8 + 12 * Double(row), fill: run.colour) + "\n"
                }
            }
        }
        out += "</g>\n"
        return out
    }

    func lines(of run: PlottedRun) -> String {
        var out = ""
        for (kind, stretches) in [("train", run.train), ("validation", run.validation)] where !stretches.isEmpty {
            var path = ""
            for stretch in stretches {
                for (index, point) in stretch.enumerated() {
                    if !path.isEmpty { path += " " }
                    path +=
                        (index == 0 ? "M" : "L") + SVGText.coordinate(x(point.x)) + ","
                        + SVGText.coordinate(y(point.loss))
                }
            }
            let dash = kind == "validation" ? " stroke-dasharray=\"7 4\"" : ""
            out +=
                "<path class=\"\(kind)\" data-series=\"\(SVGText.escaped("\(run.label) \(kind)"))\" d=\"\(path)\" "
                + "fill=\"none\" stroke=\"\(run.colour)\" stroke-width=\"2\" stroke-linejoin=\"round\"\(dash)/>\n"
        }
        return out
    }

    /// Filled points for train, hollow for validation, each with a tooltip giving its value.
    func markers(of run: PlottedRun) -> String {
        guard let radius = markerRadius else { return "" }
        let c = SVGText.coordinate
        var out = ""
        for (kind, stretches) in [("train", run.train), ("validation", run.validation)] where !stretches.isEmpty {
            let series = "\(run.label) \(kind)"
            let fill = kind == "train" ? run.colour : "#ffffff"
            out +=
                "<g class=\"markers \(kind)\" data-series=\"\(SVGText.escaped(series))\" fill=\"\(fill)\" "
                + "stroke=\"\(run.colour)\" stroke-width=\"1.5\">\n"
            for point in stretches.flatMap({ $0 }) {
                let note = "\(series), \(point.name): \(SVGText.fixed(point.loss, digits: 4)) nats/char"
                out +=
                    "<circle cx=\"\(c(x(point.x)))\" cy=\"\(c(y(point.loss)))\" r=\"\(c(radius))\">"
                    + "<title>\(SVGText.escaped(note))</title></circle>\n"
            }
            out += "</g>\n"
        }
        return out
    }

    // MARK: Legend

    struct LegendEntry {
        enum Swatch { case train(String), validation(String), event(EventKind), none }
        let swatch: Swatch
        let text: String
    }

    func legendEntries() -> [LegendEntry] {
        var entries: [LegendEntry] = []
        for run in runs {
            entries.append(
                LegendEntry(
                    swatch: run.train.isEmpty ? .none : .train(run.colour),
                    text: "\(run.label) train" + (run.train.isEmpty ? " (none recorded)" : "")))
            entries.append(
                LegendEntry(
                    swatch: run.validation.isEmpty ? .none : .validation(run.colour),
                    text: "\(run.label) validation" + (run.validation.isEmpty ? " (none recorded)" : "")))
        }
        // One entry for each kind of change that occurs, in the order of the flags.
        for kind in EventKind.allCases where runs.contains(where: { $0.events.contains { $0.kinds.contains(kind) } }) {
            entries.append(LegendEntry(swatch: .event(kind), text: kind.legendText))
        }
        return entries
    }

    /// Entries in rows of equal cells below the plot, as many to a row as fit
    /// the plot's width (an even number, so that a run's train and validation
    /// share a row), or one.
    struct LegendGrid { let columns: Int; let rows: Int; let cellWidth: Double }

    static let legendGap = 24.0

    func legendGrid(_ entries: [LegendEntry]) -> LegendGrid {
        let cell = entries.map { Self.legendSwatch + 8 + SVGText.estimatedWidth($0.text, fontSize: Self.fontSize) }.max()!.rounded(.up)
        let fit = Int((Self.plotWidth + Self.legendGap) / (cell + Self.legendGap))
        let columns = fit >= 2 ? min(fit / 2 * 2, max(2, entries.count)) : 1
        return LegendGrid(columns: columns, rows: (entries.count + columns - 1) / columns, cellWidth: cell)
    }

    func legendGroup(_ entries: [LegendEntry], grid: LegendGrid, top: Double) -> String {
        let c = SVGText.coordinate
        var out = "<g class=\"legend\">\n"
        for (index, entry) in entries.enumerated() {
            let middle = top + 10 + Double(index / grid.columns) * Self.legendRow
            let left = plotLeft + Double(index % grid.columns) * (grid.cellWidth + Self.legendGap)
            let swatchEnd = left + Self.legendSwatch
            switch entry.swatch {
            case .train(let colour), .validation(let colour):
                let isTrain = if case .train = entry.swatch { true } else { false }
                let dash = isTrain ? "" : " stroke-dasharray=\"7 4\""
                out +=
                    "<line x1=\"\(c(left))\" y1=\"\(c(middle))\" x2=\"\(c(swatchEnd))\" y2=\"\(c(middle))\" "
                    + "stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
                // The swatch shows a point only when the plot does.
                if let radius = markerRadius {
                    out +=
                        "<circle cx=\"\(c(left + Self.legendSwatch / 2))\" cy=\"\(c(middle))\" r=\"\(c(radius))\" "
                        + "fill=\"\(isTrain ? colour : "#ffffff")\" stroke=\"\(colour)\" stroke-width=\"1.5\"/>\n"
                }
            case .event(let kind):
                let centre = left + Self.legendSwatch / 2
                out +=
                    "<line x1=\"\(c(centre))\" y1=\"\(c(middle - 9))\" x2=\"\(c(centre))\" y2=\"\(c(middle + 9))\" "
                    + "stroke=\"#666666\" stroke-width=\"1.5\" stroke-dasharray=\"\(kind.dashes)\"/>\n"
                out += kind.symbol(x: centre - 10, y: middle, fill: "#666666") + "\n"
            case .none:
                break
            }
            out += "<text x=\"\(c(swatchEnd + 8))\" y=\"\(c(middle + 4))\">\(SVGText.escaped(entry.text))</text>\n"
        }
        out += "</g>\n"
        return out
    }
}
