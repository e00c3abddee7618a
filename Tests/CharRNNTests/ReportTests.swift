// charrnn-inspect's reports as they stream: the fast number formatting gives
// exactly what the C library's printf gives, and the streamed text, JSON and
// TSV are the same as the reports built whole (JSON's rendering, TextTable).

import CharRNN
import Foundation
import Testing

@Suite struct ReportTests {
    /// Values printf rounds in every way: random magnitudes, exact ties in binary
    /// (0.125, 2.5), decimal near-ties (1.23455), powers of ten and their
    /// neighbours, negatives, zeros, non-finite values, the extremes.
    static func awkwardValues() -> [Double] {
        var random = TestRandom(seed: 7)
        var values: [Double] = [
            0, -0.0, 0.5, 1.5, 2.5, 0.125, 0.00005, 0.00015, 1.23455, 9.99995, 99999.95, 999999.5,
            0.0001, 0.001, 0.002, 1e-5, 1e-4, 9.9999949e-5, 123456.5, 1234567, 1e15, 1e16, 4.5e15,
            .nan, -.nan, .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
            0.002 * pow(0.97, 300), 1 / 3, 2 / 3, 1e22, 1e23, 5e-324,
        ]
        for exponent in -30...30 {
            let power = pow(10, Double(exponent))
            values += [power, power.nextUp, power.nextDown, 9.999995 * power, 9.9999949 * power, 5 * power]
        }
        for _ in 0..<20_000 {
            let exponent = Double(random.int(-12...16))
            let mantissa = Double(random.int(0...Int(Int32.max))) / Double(Int32.max) * 10
            let value = mantissa * pow(10, exponent)
            values.append(random.int(0...3) == 0 ? -value : value)
            // A value rounded to a few decimals and nudged by an ulp: a near-tie for %.Nf.
            let decimals = random.int(0...6)
            let tie = (value * pow(10, Double(decimals))).rounded(.down) + 0.5
            let nearTie = tie / pow(10, Double(decimals))
            values += [nearTie, nearTie.nextUp, nearTie.nextDown]
        }
        return values
    }

    @Test func fastFormattingIsPrintfExactly() {
        let out = ByteBuffer()
        var mismatches: [String] = []
        for value in Self.awkwardValues() {
            for decimals in 0...9 {
                out.removeAll()
                FastFormat.fixed(value, decimals: decimals, into: out)
                let expected = format("%.\(decimals)f", value)
                let got = String(decoding: out.bytes, as: UTF8.self)
                if got != expected { mismatches.append("%.\(decimals)f of \(value): \(got), printf \(expected)") }
            }
            out.removeAll()
            FastFormat.general6(value, into: out)
            let got = String(decoding: out.bytes, as: UTF8.self)
            if got != format("%.6g", value) { mismatches.append("%.6g of \(value): \(got), printf \(format("%.6g", value))") }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) differ from printf, e.g. \(mismatches.prefix(5))")
        for value: UInt64 in [0, 7, 10, 99, 100, 12345, 1 << 32, UInt64.max] {
            out.removeAll()
            FastFormat.appendDecimal(value, width: 3, into: out)
            #expect(String(decoding: out.bytes, as: UTF8.self) == format("%03llu", value))
        }
    }

    /// A history of awkward records: the streamed reports equal the ones built
    /// whole: JSON's own rendering of every value, and TextTable's layout.
    @Test func streamedReportsEqualTheReportsBuiltWhole() throws {
        var random = TestRandom(seed: 11)
        let values = Self.awkwardValues()
        func any() -> Double { values[random.int(0...values.count - 1)] }
        var checkpoint = Fixtures.workedExample
        checkpoint.history = (0..<3000).map { index in
            EpochRecord(
                epoch: index % 50 == 0 ? random.int(0...Int(UInt32.max)) : index + 1,
                flags: EpochRecord.Flags(rawValue: UInt32(random.int(0...31))),
                learningRate: any(), trainLoss: any(), validationLoss: random.int(0...4) == 0 ? .nan : any(),
                charsPerSecond: any(), seconds: any(), textHash: random.generator.next(),
                textLength: random.generator.next() >> random.int(0...63), optimizerStep: random.generator.next() >> random.int(0...63))
        }
        var json = StringSink()
        try CheckpointReport.writeJSON(checkpoint, name: "x.ckpt", to: &json)
        #expect(json.text == CheckpointReport.json(checkpoint, name: "x.ckpt").rendered() + "\n")

        // The history table as TextTable lays out the cells printf gives.
        let fields = [
            "epoch", "lr", "train_nats", "val_nats", "train_bits", "val_bits", "chars_per_s", "seconds", "step",
            "text_hash", "text_length", "notes",
        ]
        var table = TextTable(header: fields, rightAligned: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10])
        var tsv = [fields.joined(separator: "\t")]
        for record in checkpoint.history {
            let timed = !record.flags.contains(.timingOmitted), validated = !record.validationLoss.isNaN
            let notes = [(EpochRecord.Flags.optimizerReset, "optimizer reset"), (.settingsChanged, "settings changed"), (.textChanged, "new text")]
                .filter { record.flags.contains($0.0) }.map(\.1).joined(separator: ", ")
            let row = [
                String(record.epoch), format("%.6g", record.learningRate), format("%.4f", record.trainLoss),
                validated ? format("%.4f", record.validationLoss) : "-",
                format("%.4f", record.trainLoss * Units.bitsPerNat),
                validated ? format("%.4f", record.validationLoss * Units.bitsPerNat) : "-",
                timed ? format("%.0f", record.charsPerSecond) : "-", timed ? format("%.1f", record.seconds) : "-",
                String(record.optimizerStep), String(format: "%016llx", record.textHash), String(record.textLength), notes,
            ]
            table.add(row)
            tsv.append((row.dropLast() + [notes.isEmpty ? "-" : notes]).joined(separator: "\t"))
        }
        let text = CheckpointReport.text(checkpoint, name: "x.ckpt")
        #expect(text.hasSuffix("history: 3000 epochs (losses per character)\n" + table.rendered() + "\n\nmetadata: writer=charrnn example"))
        #expect(CheckpointReport.historyTSV(checkpoint) == tsv.joined(separator: "\n"))
    }
}
