// Drawing text from a model, as the seed's sample() does:
//   Flux.reset!(m); c = rand(alphabet); repeat: write(c); c = wsample(alphabet, m(onehot(c)))
// with a temperature (softmax(z / T); T = 0 takes the most likely symbol) and
// an optional prime text that the model reads first.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class Sampler {
    public let alphabet: Alphabet
    let network: InferenceNetwork
    public private(set) var generator: Xoshiro256
    public let temperature: Double
    /// The symbol the model reads next.
    public private(set) var current: Int

    public init(model: Model, alphabet: Alphabet, seed: UInt64, temperature: Double, threads: Int? = nil) {
        precondition(temperature >= 0 && temperature.isFinite)
        self.alphabet = alphabet
        network = InferenceNetwork(model, threads: threads)
        generator = Xoshiro256(seed: seed)
        self.temperature = temperature
        current = 0
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

    /// Reads the current symbol and draws the next one, which becomes current.
    public func next() -> Int {
        network.step(current)
        current = Self.draw(logits: network.logits.pointer, count: alphabet.count, temperature: temperature,
                            generator: &generator)
        return current
    }

    /// wsample over softmax(z / T): the first symbol whose cumulative weight exceeds
    /// u * total, u uniform in [0, 1); T = 0 is argmax (the first maximum).
    public static func draw(logits z: UnsafePointer<Float>, count: Int, temperature: Double,
                            generator: inout Xoshiro256) -> Int {
        var largest = z[0], best = 0
        for symbol in 1..<count where z[symbol] > largest {
            largest = z[symbol]
            best = symbol
        }
        if temperature == 0 { return best }
        let inverse = 1 / temperature
        var weights = [Double](repeating: 0, count: count)
        var total = 0.0
        for symbol in 0..<count {
            let weight = Double(expf32(Float((Double(z[symbol]) - Double(largest)) * inverse)))
            weights[symbol] = weight
            total += weight
        }
        let threshold = generator.nextUnitDouble() * total
        var cumulative = 0.0
        for symbol in 0..<count {
            cumulative += weights[symbol]
            if cumulative > threshold { return symbol }
        }
        return best
    }
}
