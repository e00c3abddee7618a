// How long a stream of drawn symbols may run: the one rule that sampling
// (Sampler, SampleBatch) and beam search (BeamSearch) share.
//
// A stream ends when it has printed the `length` symbols asked for. The stop
// symbol is drawn like any other but never printed, so a model that favours
// it could draw for ever without printing; every stream therefore also ends
// after `maxDraws(printing:stopsPerPrinted:)` draws (steps, for a beam):
// the `length` printed ones, `stopsPerPrinted` stop symbols for each of them,
// and 1,024 more.
//
//   sampling      15 per printed symbol: a model whose stop symbol takes up to
//                 15/16 of the probability still prints its length on average;
//                 at most 16 × length + 1,024 draws.
//   beam search   0 per printed symbol: a search is the same at every seed, so
//                 a model that favours the stop symbol would make every beam
//                 draw it to the cap, each step costing `width` network rows
//                 (`--beam 256 --length 4096` took 82 s for 2 bytes under the
//                 sampling cap of 66,560 steps); at most length + 1,024 steps,
//                 so a search costs at most width × (length + 1,024) rows.

public enum SampleStream {
    /// Draws beyond the printed ones and their stop symbols.
    public static let slack = 1024
    /// Stop symbols a sampled stream may draw for each printed symbol.
    public static let sampledStopsPerPrinted = 15
    /// Stop symbols a beam may choose for each printed symbol (beyond `slack`).
    public static let beamStopsPerPrinted = 0

    /// The most symbols a stream that is to print `length` may draw.
    public static func maxDraws(printing length: Int, stopsPerPrinted: Int) -> Int {
        (1 + stopsPerPrinted) * length + slack
    }
}
