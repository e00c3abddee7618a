// The progress bar fitted to a terminal's width, the log line, and chars/s
// rounded the same way in the summary and in the history.

@testable import CharRNN
import Testing

@Suite struct ProgressReportTests {
    /// Batch 120 of 447 after 4 s at 71,234 chars/s: 4 × 327/120 = 10.9 s to go.
    static let progress = TrainingProgress(
        batch: 120, batches: 447, batchLoss: 1.6234, runningLoss: 1.8012,
        positionsDone: 4 * 71_234, secondsElapsed: 4)

    static func bar(_ width: Int) -> String { ProgressReport.bar(epoch: 3, progress, width: width) }

    @Test func theBarShrinksFirstThenFieldsGoInAFixedOrder() {
        // 120 columns less 3: every field, the bar at its widest (30 cells, 8 of them done).
        #expect(Self.bar(117) == "epoch 3 [========>                     ] 120/447 loss 1.6234 (avg 1.8012) 71,234 chars/s ETA 0:11")
        // 80 less 3: the bar at its narrowest, 10 cells.
        #expect(Self.bar(77) == "epoch 3 [==>       ] 120/447 loss 1.6234 (avg 1.8012) 71,234 chars/s ETA 0:11")
        // One less: the speed goes, and the bar grows again into its room.
        #expect(Self.bar(76) == "epoch 3 [======>                 ] 120/447 loss 1.6234 (avg 1.8012) ETA 0:11")
        // 40 less 3: then the average, the epoch and the batch count.
        #expect(Self.bar(37) == "[===>          ] loss 1.6234 ETA 0:11")
        // Then the bar, then the loss; the ETA stays longest, cut at last.
        #expect(Self.bar(20) == "loss 1.6234 ETA 0:11")
        #expect(Self.bar(19) == "ETA 0:11")
        #expect(Self.bar(5) == "ETA 0")
        #expect(Self.bar(0) == "")
    }

    @Test func theBarNeverExceedsItsWidth() {
        for width in 0...160 {
            let line = Self.bar(width)
            #expect(line.count <= width, "\(width): \(line)")
            if width >= 20 { #expect(line.contains("loss 1.6234") && line.hasSuffix("ETA 0:11"), "\(width): \(line)") }
        }
        let done = TrainingProgress(batch: 9999, batches: 9999, batchLoss: 1, runningLoss: 1, positionsDone: 1, secondsElapsed: 1)
        for width in 0...160 { #expect(ProgressReport.bar(epoch: 123, done, width: width).count <= width) }
    }

    @Test func theLogLineEndsWithTheETA() {
        let line = ProgressReport.logLine(epoch: 3, Self.progress, sequenceLength: 50, timestamp: "2026-11-29T09:30:00Z")
        #expect(
            line == "2026-11-29T09:30:00Z epoch 3 batch 120/447 loss 1.6234 nats/char (81.17 per 50 steps) avg 1.8012 "
                + "71,234 chars/s ETA 0:11")
    }

    @Test func ratesRoundHalfAwayFromZeroWithOrWithoutSeparators() {
        #expect(wholeNumber(62397.5, grouping: true) == "62,398")
        #expect(wholeNumber(62397.5, grouping: false) == "62398")
        #expect(wholeNumber(62397.49, grouping: false) == "62397")
        #expect(wholeNumber(0, grouping: true) == "0")
        #expect(wholeNumber(.nan, grouping: false) == "nan")
        #expect(wholeNumber(.infinity, grouping: true) == "inf")
        #expect(wholeNumber(1e300, grouping: false).count == 301)
    }
}
