// Axis ranges and tick marks that a reader can take in at a glance: ticks in
// steps of 1, 2 or 5 times a power of ten, labels with just enough decimals.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One axis of a plot: the data range it shows and where its ticks go.
struct PlotAxis: Equatable {
    /// The values at the two ends of the axis.
    let lower: Double
    let upper: Double
    /// Tick values, lowest first, each an integer multiple of `step`.
    let ticks: [Double]
    let step: Double
    /// Decimals that show every tick exactly (0 for steps of 1 and more).
    let decimals: Int

    func label(_ value: Double) -> String { SVGText.fixed(value, digits: decimals) }

    /// The smallest step of 1, 2 or 5 × 10^k that covers `span` in at most `maxIntervals` steps.
    static func niceStep(span: Double, maxIntervals: Int) -> Double {
        precondition(span > 0 && span.isFinite && maxIntervals > 0)
        let rough = span / Double(maxIntervals)
        let power = pow(10, floor(log10(rough)))
        for multiple in [1.0, 2.0, 5.0, 10.0] where multiple * power >= rough * (1 - 1e-9) {
            return multiple * power
        }
        return 10 * power
    }

    /// Decimals needed to write multiples of `step` exactly.
    static func decimals(forStep step: Double) -> Int {
        max(0, min(9, Int(-floor(log10(step) + 1e-9))))
    }

    /// A value axis for data in `minimum ... maximum`: padded by 5% of the
    /// span, widened to at least `minimumSpan` (a single value still gets a
    /// readable scale), and ending on ticks. It never goes below zero for
    /// data that does not, since losses are never negative.
    static func values(minimum: Double, maximum: Double, minimumSpan: Double, maxIntervals: Int = 6) -> PlotAxis {
        precondition(minimum <= maximum && minimum.isFinite && maximum.isFinite && minimumSpan > 0)
        var low = minimum, high = maximum
        if high - low < minimumSpan {
            let middle = (low + high) / 2
            low = middle - minimumSpan / 2
            high = middle + minimumSpan / 2
        }
        let padding = 0.05 * (high - low)
        low -= padding
        high += padding
        if minimum >= 0 { low = max(low, 0) }
        let step = niceStep(span: high - low, maxIntervals: maxIntervals)
        // Ticks are counted in whole steps so that no rounding error creeps into their labels.
        let first = Int((low / step + 1e-9).rounded(.down))
        let last = Int((high / step - 1e-9).rounded(.up))
        let ticks = (first...last).map { Double($0) * step }
        return PlotAxis(
            lower: ticks.first!, upper: ticks.last!, ticks: ticks, step: step,
            decimals: decimals(forStep: step))
    }

    /// An epoch axis for epochs `first ... last`: whole-number ticks in nice
    /// steps inside that range. A single epoch gets half an epoch either side,
    /// so its one point sits in the middle under its own tick.
    static func epochs(first: Int, last: Int, maxIntervals: Int = 10) -> PlotAxis {
        precondition(first <= last)
        if first == last {
            return PlotAxis(
                lower: Double(first) - 0.5, upper: Double(last) + 0.5, ticks: [Double(first)],
                step: 1, decimals: 0)
        }
        let step = max(1, niceStep(span: Double(last - first), maxIntervals: maxIntervals))
        let whole = Int(step.rounded())
        // Multiples of the step, so a run of 1 … 300 is ticked 50, 100, … rather than 1, 51, ….
        var tick = (max(first, 0) + whole - 1) / whole * whole
        var ticks: [Double] = []
        while tick <= last {
            ticks.append(Double(tick))
            tick += whole
        }
        return PlotAxis(lower: Double(first), upper: Double(last), ticks: ticks, step: Double(whole), decimals: 0)
    }
}
