// Drawing text from a model, as the seed's sample() does:
//   Flux.reset!(m); c = rand(alphabet); repeat: write(c); c = wsample(alphabet, m(onehot(c)))
// with a temperature (softmax(z / T); T = 0 takes the most likely symbol),
// optionally restricted to the k most likely symbols (top-k) or to the
// smallest set of most likely symbols that holds probability p (top-p,
// nucleus sampling), and an optional prime text that the model reads first.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How each next symbol is drawn from the model's logits z.
///
/// The candidates are ranked by logit, largest first, equal logits in alphabet
/// order (the order argmax breaks ties in). `topK` keeps the first k of them;
/// `topP` then keeps the shortest prefix of those whose probabilities (softmax
/// of z / T, renormalised over what top-k kept) sum to at least p. The draw is
/// wsample over what is kept. So `topK: 1`, or any `topP` at most 1/N, keeps
/// only the first maximum: the same symbol as temperature 0. A draw from a
/// single candidate takes no random number.
public struct SamplingRule: Sendable, Equatable {
    /// T >= 0; 0 is argmax (the first maximum).
    public var temperature: Double
    /// k >= 1; nil keeps every symbol.
    public var topK: Int?
    /// p in (0, 1]; nil (or 1) keeps every symbol.
    public var topP: Double?

    public init(temperature: Double = 1, topK: Int? = nil, topP: Double? = nil) {
        precondition(temperature >= 0 && temperature.isFinite)
        precondition(topK.map { $0 >= 1 } ?? true && topP.map { $0 > 0 && $0 <= 1 } ?? true)
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
    }

    /// Whether top-k or top-p can drop a symbol.
    var filters: Bool { topK != nil || (topP.map { $0 < 1 } ?? false) }
}

/// The scratch memory of `Sampler.draw` for alphabets of up to `capacity` symbols.
public final class DrawScratch {
    let capacity: Int
    let weights: UnsafeMutablePointer<Double>
    let order: UnsafeMutablePointer<Int32>

    public init(capacity: Int) {
        self.capacity = capacity
        weights = .allocate(capacity: max(1, capacity))
        order = .allocate(capacity: max(1, capacity))
    }

    deinit {
        weights.deallocate()
        order.deallocate()
    }
}

public final class Sampler {
    public let alphabet: Alphabet
    let network: InferenceNetwork
    public private(set) var generator: Xoshiro256
    public let rule: SamplingRule
    public var temperature: Double { rule.temperature }
    let scratch: DrawScratch
    /// The symbol the model reads next.
    public private(set) var current: Int

    public convenience init(model: Model, alphabet: Alphabet, seed: UInt64, temperature: Double, threads: Int? = nil) {
        self.init(
            model: model, alphabet: alphabet, generator: Xoshiro256(seed: seed),
            rule: SamplingRule(temperature: temperature), threads: threads)
    }

    public convenience init(model: Model, alphabet: Alphabet, generator: Xoshiro256, rule: SamplingRule, threads: Int? = nil) {
        self.init(models: [model], alphabet: alphabet, generator: generator, rule: rule, threads: threads)
    }

    /// Draws from an ensemble: the mean of the models' probabilities (InferenceNetwork).
    public init(models: [Model], alphabet: Alphabet, generator: Xoshiro256, rule: SamplingRule, threads: Int? = nil) {
        self.alphabet = alphabet
        network = InferenceNetwork(models, threads: threads)
        self.generator = generator
        self.rule = rule
        scratch = DrawScratch(capacity: alphabet.count)
        current = 0
    }

    /// The generator of sample `stream` of a seed: the seed's generator jumped `stream` times
    /// (so sample 0 is what a single sample with that seed draws).
    public static func generator(seed: UInt64, stream: Int) -> Xoshiro256 {
        var generator = Xoshiro256(seed: seed)
        for _ in 0..<stream { generator.jump() }
        return generator
    }

    /// Starts a sample: zero state and a start symbol drawn uniformly from the alphabet,
    /// which is the sample's first symbol.
    public func startRandom() -> Int {
        network.reset()
        current = generator.nextIndex(below: alphabet.count)
        return current
    }

    /// Starts a sample from a prime (alphabet indices, at least one): the model reads
    /// all of it, and the next symbol it draws follows the prime's last symbol.
    public func start(prime: [Int]) {
        precondition(!prime.isEmpty)
        network.reset()
        for symbol in prime.dropLast() { network.step(symbol) }
        current = prime.last!
    }

    /// One sample as charrnn-sample prints it: started from `prime`, or without
    /// one from a random start symbol (printed, and counted in `length`, unless
    /// it is the stop symbol); then `length` drawn symbols other than the stop
    /// symbol, each handed to `emit`. Stop symbols are neither printed nor
    /// counted; `stopAtStop` ends the sample at one, and a model that draws
    /// nothing else ends it too after SampleStream's cap (16 × length + 1024 draws), rather than spin.
    /// Throws NonFinitePrediction when the model's output is not a number.
    public func sample(length: Int, prime: [Int], stopAtStop: Bool, emit: (Int) throws -> Void) throws {
        var remaining = length
        if prime.isEmpty {
            let first = startRandom()
            if remaining > 0, first != alphabet.stopIndex {
                try emit(first)
                remaining -= 1
            }
        } else {
            start(prime: prime)
        }
        var draws = 0
        let maxDraws = SampleStream.maxDraws(printing: remaining, stopsPerPrinted: SampleStream.sampledStopsPerPrinted)
        while remaining > 0, draws < maxDraws {
            let symbol = next()
            try network.checkFinite()
            draws += 1
            if symbol == alphabet.stopIndex {
                if stopAtStop { break }
                continue
            }
            try emit(symbol)
            remaining -= 1
        }
    }

    /// Reads the current symbol and draws the next one, which becomes current.
    public func next() -> Int {
        network.step(current)
        current = Self.draw(
            logits: network.logits.pointer, count: alphabet.count, rule: rule, scratch: scratch,
            generator: &generator)
        return current
    }

    /// wsample over softmax(z / T): the first symbol whose cumulative weight exceeds
    /// u * total, u uniform in [0, 1); T = 0 is argmax (the first maximum).
    public static func draw(
        logits z: UnsafePointer<Float>, count: Int, temperature: Double,
        generator: inout Xoshiro256
    ) -> Int {
        draw(
            logits: z, count: count, rule: SamplingRule(temperature: temperature), scratch: DrawScratch(capacity: count),
            generator: &generator)
    }

    /// The draw under `rule` (see SamplingRule): wsample over the kept symbols'
    /// weights exp((z - max z) / T), in alphabet order. Without top-k and top-p
    /// (or when they keep every symbol) it is exactly the draw above.
    public static func draw(
        logits z: UnsafePointer<Float>, count: Int, rule: SamplingRule, scratch: DrawScratch,
        generator: inout Xoshiro256
    ) -> Int {
        precondition(count <= scratch.capacity)
        var largest = z[0], best = 0
        for symbol in 1..<count where z[symbol] > largest {
            largest = z[symbol]
            best = symbol
        }
        if rule.temperature == 0 { return best }
        let inverse = 1 / rule.temperature
        let weights = scratch.weights
        var total = 0.0
        for symbol in 0..<count {
            let weight = Double(expf32(Float((Double(z[symbol]) - Double(largest)) * inverse)))
            weights[symbol] = weight
            total += weight
        }
        if rule.filters {
            let kept = keepMostLikely(logits: z, weights: weights, count: count, rule: rule, order: scratch.order)
            if kept == 1 { return best }
            if kept < count {
                total = 0
                for symbol in 0..<count { total += weights[symbol] }
            }
        }
        let threshold = generator.nextUnitDouble() * total
        var cumulative = 0.0
        for symbol in 0..<count {
            cumulative += weights[symbol]
            if cumulative > threshold { return symbol }
        }
        return best
    }

    /// Top-k and top-p: sets the weights of the symbols they drop to 0 and returns
    /// how many are kept (at least 1: the first maximum is always kept).
    static func keepMostLikely(
        logits z: UnsafePointer<Float>, weights: UnsafeMutablePointer<Double>, count: Int,
        rule: SamplingRule, order: UnsafeMutablePointer<Int32>
    ) -> Int {
        for symbol in 0..<count { order[symbol] = Int32(symbol) }
        var ranked = UnsafeMutableBufferPointer(start: order, count: count)
        ranked.sort { a, b in z[Int(a)] > z[Int(b)] || (z[Int(a)] == z[Int(b)] && a < b) }
        var kept = min(count, rule.topK ?? count)
        if let p = rule.topP, p < 1 {
            var mass = 0.0
            for rank in 0..<kept { mass += weights[Int(order[rank])] }
            let wanted = p * mass
            var cumulative = 0.0
            for rank in 0..<kept {
                cumulative += weights[Int(order[rank])]
                if cumulative >= wanted {
                    kept = rank + 1
                    break
                }
            }
        }
        for rank in kept..<count { weights[Int(order[rank])] = 0 }
        return kept
    }
}
