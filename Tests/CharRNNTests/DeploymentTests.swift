// The pieces of the web page and the server that can be checked without a
// browser or a socket: the page's float16 rounding against Swift's Float16,
// its base64 against Foundation's, what the page holds, and the request
// parsing and parameter checks of the server.

@testable import CharRNN
import Foundation
import Testing

@Suite struct DeploymentTests {
    @Test func halfBitsRoundAsFloat16Does() {
        var generator = Xoshiro256(seed: 11)
        var values: [Float] = [
            0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, -1e6, 6.1035156e-5, 6.0e-5, 5.96e-8, 2.98e-8, 2.99e-8, 1e-10,
            .infinity, -.infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
        ]
        for _ in 0..<200_000 {
            values.append(Float(bitPattern: UInt32(truncatingIfNeeded: generator.next())))
        }
        for value in values where !value.isNaN {
            #expect(WebPage.halfBits(value) == Float16(value).bitPattern, "\(value)")
        }
        #expect(WebPage.halfBits(.nan) & 0x7C00 == 0x7C00 && WebPage.halfBits(.nan) & 0x3FF != 0)
    }

    @Test func base64IsFoundations() {
        var generator = Xoshiro256(seed: 3)
        for count in 0..<40 {
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            #expect(WebPage.base64(bytes) == Data(bytes).base64EncodedString())
        }
    }

    @Test func pageHoldsTheWeightsAndEscapesItsTitle() throws {
        let alphabet = try Alphabet(text: "ab<c/\n".unicodeScalars.map(\.value))
        let model = Model(
            initialising: ModelConfig(cell: .gru, hiddenSizes: [3], alphabetSize: alphabet.count, initialiser: .fluxGlorotUniform, seed: 1))
        let page = WebPage.render(model: model, alphabet: alphabet, precision: .float32, title: "</script><b>")
        #expect(page.contains("<title>&lt;/script&gt;&lt;b&gt;</title>"))
        let weights = try #require(page.firstMatch(of: #/const WEIGHTS = "([A-Za-z0-9+/=]*)";/#))
        let bytes = try #require(Data(base64Encoded: String(weights.1)))
        let floats = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(floats.map(\.bitPattern) == model.parameters.map(\.bitPattern))
        let spec = try #require(page.firstMatch(of: #/<script id="spec" type="application/json">([^<]*)</script>/#))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(spec.1.utf8)) as? [String: Any])
        #expect(json["cell"] as? String == "gru" && json["parameters"] as? Int == model.layout.parameterCount)
        #expect(json["symbols"] as? [Int] == alphabet.symbols.map(Int.init))
        let half = WebPage.render(model: model, alphabet: alphabet, precision: .float16, title: "t")
        #expect(half.count < page.count && half.contains(#""precision":"float16""#))
    }

    @Test func sampleParametersAreCheckedAsCharrnnSampleChecksItsFlags() throws {
        let alphabet = try Alphabet(text: "abc ".unicodeScalars.map(\.value))
        let model = Model(
            initialising: ModelConfig(cell: .lstm, hiddenSizes: [4], alphabetSize: alphabet.count, initialiser: .fluxGlorotUniform, seed: 1))
        let service = SampleService(model: model, alphabet: alphabet, name: "m", maxLength: 1000)
        let parsed = try service.parseSample([
            ("prime", "ab c"), ("length", "10"), ("temperature", "0.5"), ("top_p", "0.9"),
            ("seed", "18446744073709551615"),
        ])
        #expect(parsed.prime.count == 4 && parsed.length == 10 && parsed.seed == .max)
        #expect(parsed.rule == SamplingRule(temperature: 0.5, topK: nil, topP: 0.9))
        #expect(try service.parseSample([]) == SampleService.SampleRequest())
        let refused: [[(String, String)]] = [
            [("length", "1001")], [("length", "-1")], [("temperature", "nan")], [("top_k", "0")],
            [("top_p", "0")], [("top_p", "1.5")], [("seed", "-1")], [("prime", "x")],
            [("top_k", "2"), ("temperature", "0")], [("seed", "1"), ("seed", "2")], [("bogus", "")],
        ]
        for query in refused {
            #expect(throws: HTTPError.self, "\(query)") { try service.parseSample(query.map { (name: $0.0, value: $0.1) }) }
        }
    }

    @Test func percentDecodingIsStrict() {
        #expect(HTTPConnection.percentDecoded("ROMEO%3A+a%20b%C3%A9", plusIsSpace: true) == "ROMEO: a bé")
        #expect(HTTPConnection.percentDecoded("/a+b", plusIsSpace: false) == "/a+b")
        #expect(HTTPConnection.percentDecoded("%zz", plusIsSpace: true) == nil)
        #expect(HTTPConnection.percentDecoded("%C3", plusIsSpace: true) == nil)  // not UTF-8
        #expect(HTTPConnection.percentDecoded("%4", plusIsSpace: true) == nil)
    }
}
