// What charrnn-serve answers (docs/deployment.md, "The server"):
//
//   GET  /sample?prime=&length=&temperature=&top_k=&top_p=&seed=
//        text/plain, streamed in chunks as it is drawn: byte for byte what
//        `charrnn-sample --seed S --length N ...` prints (the prime, the
//        sample, a newline); X-Seed gives the seed (random when not given)
//   POST /score[?per_char=1]   body: UTF-8 text. JSON: nats/char etc., and
//        with per_char=1 the rows of `charrnn-sample --score --per-char`
//   GET  /healthz              JSON: ok, the model, the load
//   GET  /                     a small page that uses the two
//
// Each request gets its own Sampler (its own state and generator) over the
// shared weights, on its own thread, inside a compute slot (HTTPServer).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

public final class SampleService: @unchecked Sendable {
    public let model: Model
    public let alphabet: Alphabet
    public let name: String
    /// The largest `length` a request may ask for.
    public let maxLength: Int
    /// A stream is sent when it holds this many bytes, or `flushSeconds` after the last send.
    static let flushBytes = 4096
    static let flushSeconds = 0.02

    public init(model: Model, alphabet: Alphabet, name: String, maxLength: Int) {
        self.model = model
        self.alphabet = alphabet
        self.name = name
        self.maxLength = maxLength
    }

    public var modelDescription: String {
        "\(model.config.cell) \(model.config.hiddenSizes.map(String.init).joined(separator: ",")), "
            + "\(model.layout.parameterCount) parameters, \(alphabet.count) symbols"
    }

    /// The handler for HTTPServer.serve.
    public func handle(_ request: HTTPRequest, _ connection: HTTPConnection, server: HTTPServer) {
        do {
            switch (request.method, request.path) {
            case ("GET", "/sample"):
                try sample(request, connection, server: server)
            case ("POST", "/score"):
                try score(request, connection, server: server)
            case ("GET", "/healthz"):
                let load = server.load
                let body = JSON.object([
                    ("status", .string(server.isStopping ? "stopping" : "ok")), ("model", .string(name)),
                    ("description", .string(modelDescription)), ("active", .int(load.active)),
                    ("queued", .int(load.queued)), ("connections", .int(load.connections)),
                ])
                try connection.respond(200, contentType: "application/json", body: Array((body.rendered() + "\n").utf8))
            case ("GET", "/"):
                try connection.respond(200, contentType: "text/html; charset=utf-8", body: Array(indexPage.utf8))
            case (_, "/sample"), (_, "/score"), (_, "/healthz"), (_, "/"):
                let allowed = request.path == "/score" ? "POST" : "GET"
                try connection.respond(405, text: "\(request.path) takes \(allowed), not \(request.method)", extra: [("Allow", allowed)])
            default:
                try connection.respond(404, text: "no \(request.path) here; try /sample, /score, /healthz or /")
            }
        } catch let error as HTTPError {
            if !connection.responded { try? connection.respond(error.status, text: error.message) }
        } catch let error as NonFinitePrediction {
            // A model whose output is not a number: nothing can be drawn or scored from it. A stream
            // already begun ends where it is (the connection closes without the last chunk).
            if !connection.responded { try? connection.respond(422, text: "\(error)") }
        } catch {
            // HTTPPeerGone: nothing to tell anyone.
        }
    }

    /// Runs `body` inside a compute slot, or answers 429 / 503.
    private func withSlot(_ connection: HTTPConnection, server: HTTPServer, _ body: () throws -> Void) throws {
        switch server.acquireSlot() {
        case .granted:
            defer { server.releaseSlot() }
            try body()
        case .full:
            try connection.respond(
                429, text: "busy: \(server.limits.maxActive) requests running and \(server.limits.maxQueue) waiting; try again later",
                extra: [("Retry-After", "1")])
        case .stopping:
            try connection.respond(503, text: "the server is shutting down")
        }
    }

    // MARK: - /sample

    public struct SampleRequest: Sendable, Equatable {
        public var prime: [Int] = []
        public var length = 500
        public var rule = SamplingRule()
        public var seed: UInt64? = nil
    }

    /// The query's parameters, checked as charrnn-sample checks its flags.
    public func parseSample(_ query: [(name: String, value: String)]) throws(HTTPError) -> SampleRequest {
        var result = SampleRequest()
        var seen = Set<String>()
        var temperature = 1.0, topK: Int? = nil, topP: Double? = nil
        for (name, value) in query {
            guard seen.insert(name).inserted else { throw HTTPError(400, "\(name) is given twice") }
            switch name {
            case "prime":
                do {
                    result.prime = try alphabet.indices(of: value)
                } catch {
                    throw HTTPError(400, "prime: \(error)")
                }
            case "length":
                guard let length = Int(value), length >= 0 else { throw HTTPError(400, "length must be an integer >= 0, not '\(value)'") }
                guard length <= maxLength else { throw HTTPError(400, "length \(length) is more than this server's --max-length \(maxLength)") }
                result.length = length
            case "temperature":
                guard let t = Double(value), t >= 0, t.isFinite else { throw HTTPError(400, "temperature must be a number >= 0, not '\(value)'") }
                temperature = t
            case "top_k":
                guard let k = Int(value), k >= 1 else { throw HTTPError(400, "top_k must be an integer >= 1, not '\(value)'") }
                topK = k
            case "top_p":
                guard let p = Double(value), p > 0, p <= 1 else { throw HTTPError(400, "top_p must be in (0, 1], not '\(value)'") }
                topP = p
            case "seed":
                guard let seed = UInt64(value) else { throw HTTPError(400, "seed must be an integer from 0 to 2^64-1, not '\(value)'") }
                result.seed = seed
            default:
                throw HTTPError(400, "unknown parameter '\(name)' (known: prime, length, temperature, top_k, top_p, seed)")
            }
        }
        if (topK != nil || topP != nil) && temperature == 0 {
            throw HTTPError(400, "top_k and top_p do nothing with temperature 0 (argmax)")
        }
        result.rule = SamplingRule(temperature: temperature, topK: topK, topP: topP)
        return result
    }

    private func sample(_ request: HTTPRequest, _ connection: HTTPConnection, server: HTTPServer) throws {
        let parameters = try parseSample(request.query)
        let seed = parameters.seed ?? Self.randomSeed()
        try withSlot(connection, server: server) {
            let sampler = Sampler(model: model, alphabet: alphabet, generator: Xoshiro256(seed: seed), rule: parameters.rule, threads: 1)
            try connection.beginChunks(200, contentType: "text/plain; charset=utf-8", extra: [("X-Seed", String(seed))])
            let symbols = alphabet.symbols, stop = alphabet.stopIndex
            var pending: [UInt8] = []
            func append(_ symbol: Int) {
                guard let scalar = Unicode.Scalar(symbols[symbol]) else { return }
                pending += Array(String(Character(scalar)).utf8)
            }
            for symbol in parameters.prime where symbol != stop { append(symbol) }
            try connection.writeChunk(pending)
            pending.removeAll(keepingCapacity: true)
            // The first symbol goes out at once; then every flushBytes or flushSeconds.
            // A shutdown cuts the stream short: what was drawn is sent, without the final newline,
            // and the response ends properly.
            struct Stopping: Error {}
            var lastSend = -1.0
            do {
                try sampler.sample(length: parameters.length, prime: parameters.prime, stopAtStop: false) { symbol in
                    if server.isStopping { throw Stopping() }
                    append(symbol)
                    let now = monotonicSeconds()
                    if lastSend < 0 || pending.count >= Self.flushBytes || now - lastSend >= Self.flushSeconds {
                        try connection.writeChunk(pending)
                        pending.removeAll(keepingCapacity: true)
                        lastSend = now
                    }
                }
                pending.append(0x0A)
            } catch is Stopping {}
            try connection.writeChunk(pending)
            try connection.finishChunks()
        }
    }

    /// A seed from the kernel's random source, as charrnn-sample picks one.
    static func randomSeed() -> UInt64 {
        var value: UInt64 = 0
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if fd >= 0 {
            defer { close(fd) }
            if read(fd, &value, 8) == 8 { return value }
        }
        return UInt64(bitPattern: Int64(monotonicSeconds() * 1e9))
    }

    // MARK: - /score

    private func score(_ request: HTTPRequest, _ connection: HTTPConnection, server: HTTPServer) throws {
        var perChar = false
        for (name, value) in request.query {
            guard name == "per_char" else { throw HTTPError(400, "unknown parameter '\(name)' (known: per_char)") }
            guard value == "0" || value == "1" else { throw HTTPError(400, "per_char is 0 or 1, not '\(value)'") }
            perChar = value == "1"
        }
        let scalars = String(decoding: request.body, as: UTF8.self).unicodeScalars.map(\.value)
        let index = alphabet.makeIndex()
        let skipped = scalars.count { index.index(of: $0) == nil || $0 == alphabet.stop }
        guard scalars.count - skipped >= 2 else {
            throw HTTPError(400, "the body needs at least 2 characters the model's alphabet has to score (it has \(scalars.count - skipped))")
        }
        try withSlot(connection, server: server) {
            let analysis = try TextAnalysis.analyse(scalars, alphabet: alphabet, model: model, threads: 1)
            let result = analysis.score
            var members: [(String, JSON)] = [
                ("characters", .int(scalars.count)), ("skipped", .int(skipped)), ("predicted", .int(result.predicted)),
                ("nats_per_char", .double(result.natsPerCharacter)), ("bits_per_char", .double(result.bitsPerCharacter)),
                ("total_nats", .double(result.totalNats)), ("perplexity", .double(result.perplexity)),
            ]
            if perChar {
                var rows: [JSON] = []
                var line = 1, column = 1, offset = 0
                for (read, position) in analysis.readOffsets.enumerated() {
                    while offset < position {
                        if scalars[offset] == 0x0A { line += 1; column = 1 } else { column += 1 }
                        offset += 1
                    }
                    guard let prediction = analysis.prediction(atRead: read) else { continue }
                    rows.append(
                        .object([
                            ("position", .int(position)), ("line", .int(line)), ("column", .int(column)),
                            ("char", .string(String(Character(Unicode.Scalar(scalars[position])!)))),
                            ("nats", .double(Double(prediction.nats))), ("rank", .int(Int(prediction.rank))),
                            ("guess", .string(String(Character(Unicode.Scalar(alphabet.symbols[Int(prediction.guess)])!)))),
                        ]))
                }
                members.append(("per_char", .array(rows)))
            }
            try connection.respond(200, contentType: "application/json", body: Array((JSON.object(members).rendered() + "\n").utf8))
        }
    }

    // MARK: - /

    var indexPage: String {
        let title = WebPage.escapeHTML("charrnn-serve: \(name)"), description = WebPage.escapeHTML(modelDescription)
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(title)</title>
            <style>body{font:15px/1.4 system-ui,sans-serif;max-width:60em;margin:1.5em auto;padding:0 1em}
            label{margin-right:1em}input{width:6em}pre{white-space:pre-wrap;background:#f6f6f4;padding:.8em;min-height:6em}</style>
            </head><body>
            <h1>\(title)</h1><p>\(description)</p>
            <p><label>Prime <input id="prime" style="width:14em"></label><label>Length <input id="length" value="500"></label>
            <label>Temperature <input id="temperature" value="1"></label><label>Top-k <input id="top_k"></label>
            <label>Top-p <input id="top_p"></label><label>Seed <input id="seed"></label>
            <button id="go">Sample</button></p>
            <pre id="out"></pre>
            <p><textarea id="text" rows="4" cols="70"></textarea><br><button id="score">Score</button> <span id="result"></span></p>
            <script>
            const $ = (id) => document.getElementById(id);
            $("go").onclick = async () => {
              const query = new URLSearchParams();
              for (const key of ["prime", "length", "temperature", "top_k", "top_p", "seed"]) if ($(key).value !== "") query.set(key, $(key).value);
              $("out").textContent = "";
              const response = await fetch("/sample?" + query);
              if (!response.ok) { $("out").textContent = await response.text(); return; }
              const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
              for (;;) { const { value, done } = await reader.read(); if (done) break; $("out").textContent += value; }
            };
            $("score").onclick = async () => {
              const response = await fetch("/score", { method: "POST", body: $("text").value });
              const result = await response.json().catch(() => null);
              $("result").textContent = !response.ok || !result ? "refused" :
                `${result.predicted} characters predicted, ${result.nats_per_char.toFixed(4)} nats/char, perplexity ${result.perplexity.toFixed(3)}`;
            };
            </script></body></html>

            """
    }
}
