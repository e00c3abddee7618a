// charrnn-serve as a client sees it: /sample streams in chunks exactly what
// charrnn-sample prints with the same seed, for several clients at once;
// /score returns what --score and --per-char compute; bad parameters get 400,
// requests beyond the limits 429; SIGTERM ends the running streams properly,
// removes the socket file and exits 0. Waits are for events (a line, a
// chunk, the process's exit), never for time.

import CharRNN
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A running charrnn-serve: started, its first stderr line read (where it listens).
final class ServerProcess {
    let process = Process()
    let errors = Pipe()
    /// The TCP port, or nil on a Unix socket.
    var port: Int?
    let socketPath: String?
    var firstLine = ""

    init(_ arguments: [String], directory: URL, socketPath: String? = nil) throws {
        self.socketPath = socketPath
        process.executableURL = Tools.binaries.appendingPathComponent("charrnn-serve")
        process.arguments = (socketPath.map { ["--socket", $0] } ?? ["--port", "0"]) + arguments
        process.currentDirectoryURL = directory
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        var bytes: [UInt8] = []
        while !bytes.contains(0x0A) {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            bytes += data
        }
        firstLine = String(decoding: bytes, as: UTF8.self)
        if socketPath == nil, let match = firstLine.firstMatch(of: #/http://127\.0\.0\.1:([0-9]+)/#) { port = Int(match.1) }
    }

    /// Sends SIGTERM, waits for the exit: (status, the rest of stderr).
    func terminate() -> (status: Int32, stderr: String) {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        let rest = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: rest, as: UTF8.self))
    }

    /// A connection to the server, the request sent.
    func connect(_ request: String, body: [UInt8] = []) throws -> HTTPTestConnection {
        let connection = try HTTPTestConnection(port: port, socketPath: socketPath)
        try connection.send(Array(request.utf8) + body)
        return connection
    }

    func get(_ target: String) throws -> HTTPTestResponse {
        try connect("GET \(target) HTTP/1.1\r\nHost: test\r\n\r\n").readAll()
    }

    func post(_ target: String, body: [UInt8]) throws -> HTTPTestResponse {
        try connect("POST \(target) HTTP/1.1\r\nHost: test\r\nContent-Length: \(body.count)\r\n\r\n", body: body).readAll()
    }
}

struct HTTPTestResponse {
    var status = 0
    var headers: [String: String] = [:]
    var body: [UInt8] = []
    /// The chunks of a chunked body, in order; nil when the body had a length.
    var chunks: [[UInt8]]? = nil
    /// Whether a chunked body ended with its last (empty) chunk.
    var complete = false
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// A plain socket client: enough HTTP/1.1 to read charrnn-serve's answers chunk by chunk.
final class HTTPTestConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private var atEnd = false

    init(port: Int?, socketPath: String?) throws {
        if let socketPath {
            fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in socketPath.utf8.enumerated() { raw[index] = byte }
            }
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard status == 0 else { throw POSIXError(.ECONNREFUSED) }
        } else {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port!).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard status == 0 else { throw POSIXError(.ECONNREFUSED) }
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { throw POSIXError(.EPIPE) }
            sent += count
        }
    }

    private func fill() -> Bool {
        guard !atEnd else { return false }
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { atEnd = true; return false }
        buffer += chunk[..<count]
        return true
    }

    private func line() -> String? {
        while true {
            if let end = buffer.indices.dropLast().first(where: { buffer[$0] == 13 && buffer[$0 + 1] == 10 }) {
                let text = String(decoding: buffer[..<end], as: UTF8.self)
                buffer.removeFirst(end + 2)
                return text
            }
            guard fill() else { return nil }
        }
    }

    private func take(_ count: Int) -> [UInt8]? {
        while buffer.count < count { guard fill() else { return nil } }
        defer { buffer.removeFirst(count) }
        return Array(buffer[..<count])
    }

    /// The status line and the headers.
    func readHead() -> HTTPTestResponse {
        var response = HTTPTestResponse()
        guard let status = line() else { return response }
        response.status = Int(status.split(separator: " ").dropFirst().first ?? "") ?? 0
        while let header = line(), !header.isEmpty {
            let parts = header.split(separator: ":", maxSplits: 1)
            response.headers[parts[0].lowercased()] = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        }
        return response
    }

    /// The next chunk of a chunked body; nil after the last one (or when the stream breaks).
    func readChunk(_ response: inout HTTPTestResponse) -> [UInt8]? {
        guard let sizeLine = line(), let size = Int(sizeLine, radix: 16) else { return nil }
        if size == 0 {
            _ = line()
            response.complete = true
            return nil
        }
        guard let bytes = take(size), line() != nil else { return nil }
        response.chunks!.append(bytes)
        response.body += bytes
        return bytes
    }

    /// The whole response, to the end of the connection.
    func readAll(after head: HTTPTestResponse? = nil) -> HTTPTestResponse {
        var response = head ?? readHead()
        if response.headers["transfer-encoding"] == "chunked" {
            if response.chunks == nil { response.chunks = [] }
            while readChunk(&response) != nil {}
        } else {
            while fill() {}
            response.body = buffer
            buffer = []
        }
        return response
    }
}

@Suite struct ServeCLITests {
    /// A small trained LSTM in `directory` (e1.ckpt), as the convert tests make it.
    static func model(_ directory: URL) throws {
        try ConvertCLITests.trained(directory, cell: "lstm")
    }

    static func charrnnSample(_ flags: [String], in directory: URL) throws -> [UInt8] {
        let result = try Tools.run("charrnn-sample", flags + ["e1.ckpt"], directory: directory)
        #expect(result.status == 0, "\(result.stderr)")
        return result.bytes
    }

    @Test func samplesStreamAsCharrnnSampleAndScoresMatch() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.model(directory)
        let server = try ServerProcess(["e1.ckpt"], directory: directory)
        #expect(server.firstLine.hasPrefix("charrnn-serve: e1.ckpt (lstm 6,6, "), "\(server.firstLine)")
        #expect(server.port != nil)
        defer { _ = server.terminate() }

        // Two clients at once, each with its own seed: each gets charrnn-sample's text for it.
        let queries = ["seed=7&length=3000&temperature=0.9&prime=To%20be", "seed=8&length=3000&top_k=4"]
        let connections = try queries.map { try server.connect("GET /sample?\($0) HTTP/1.1\r\nHost: test\r\n\r\n") }
        var responses = connections.map { $0.readHead() }
        for index in responses.indices {
            #expect(responses[index].status == 200 && responses[index].headers["transfer-encoding"] == "chunked")
            responses[index].chunks = []
            // Both streams have begun before either is read to its end.
            #expect(connections[index].readChunk(&responses[index]) != nil)
        }
        for index in responses.indices { responses[index] = connections[index].readAll(after: responses[index]) }
        #expect(responses[0].complete && responses[1].complete)
        #expect(responses[0].headers["x-seed"] == "7")
        #expect((responses[0].chunks?.count ?? 0) >= 2, "the text comes in chunks as it is drawn")
        #expect(
            responses[0].body
                == (try Self.charrnnSample(
                    ["--seed", "7", "--length", "3000", "--temperature", "0.9", "--prime", "To be"],
                    in: directory)))
        #expect(responses[1].body == (try Self.charrnnSample(["--seed", "8", "--length", "3000", "--top-k", "4"], in: directory)))

        // /score: what TextScore computes; per_char: the rows of --score --per-char.
        let text = Array(EpochCLITests.text.prefix(400))
        let scored = try server.post("/score?per_char=1", body: text)
        #expect(scored.status == 200, "\(scored.text)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(scored.body)) as? [String: Any])
        let checkpoint = try EpochCLITests.checkpoint(directory, "e1.ckpt")
        let index = checkpoint.alphabet.makeIndex()
        let ours = try TextScore.score(text.map { UInt16(index.index(of: UInt32($0))!) }, model: checkpoint.model!)
        #expect(json["predicted"] as? Int == 399)
        #expect(abs((json["nats_per_char"] as? Double ?? 0) - ours.natsPerCharacter) <= 1e-9)
        try Data(text).write(to: directory.appendingPathComponent("scored.txt"))
        let table = try Tools.run("charrnn-sample", ["--score", "scored.txt", "--per-char", "e1.ckpt"], directory: directory)
        let rows = table.text.split(separator: "\n").dropFirst().map { $0.split(separator: "\t", omittingEmptySubsequences: false) }
        let perChar = try #require(json["per_char"] as? [[String: Any]])
        #expect(perChar.count == rows.count)
        for (row, expected) in zip(perChar, rows) {
            #expect(row["position"] as? Int == Int(expected[0]) && row["rank"] as? Int == Int(expected[6]))
            #expect(String(format: "%.6f", row["nats"] as? Double ?? .nan) == String(expected[4]))
        }

        // Health, the page, and the refusals: one line each saying why.
        let health = try server.get("/healthz")
        #expect(health.status == 200 && health.text.hasPrefix(#"{"status":"ok","model":"e1.ckpt""#), "\(health.text)")
        let page = try server.get("/")
        #expect(page.status == 200 && page.text.contains("fetch(\"/sample?\""))
        let refusals: [(String, Int, String)] = [
            ("/sample?temperature=-1", 400, "temperature must be a number >= 0, not '-1'"),
            ("/sample?lenght=5", 400, "unknown parameter 'lenght'"),
            ("/sample?length=100001", 400, "length 100001 is more than this server's --max-length 100000"),
            ("/sample?prime=%C3%A9", 400, "prime: "),
            ("/sample?top_k=3&temperature=0", 400, "top_k and top_p do nothing with temperature 0"),
            ("/sample?seed=7&seed=8", 400, "seed is given twice"),
            ("/nothing", 404, "no /nothing here"),
            ("/score", 405, "/score takes POST, not GET"),
        ]
        for (target, status, message) in refusals {
            let response = try server.get(target)
            #expect(
                response.status == status && response.text.contains(message) && response.text.filter { $0 == "\n" }.count == 1,
                "\(target): \(response.status) \(response.text)")
        }
        let tooShort = try server.post("/score", body: Array("x".utf8))
        #expect(tooShort.status == 400 && tooShort.text.contains("at least 2 characters"))
        let stopped = server.terminate()
        #expect(stopped.status == 0 && stopped.stderr == "charrnn-serve: stopped by SIGTERM\n", "\(stopped)")
    }

    @Test func beyondTheLimitsIs429AndSIGTERMEndsStreamsCleanly() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.model(directory)
        let socketPath = directory.appendingPathComponent("serve.sock").path
        let server = try ServerProcess(["--max-active", "1", "--max-queue", "0", "e1.ckpt"], directory: directory, socketPath: socketPath)
        #expect(server.firstLine.contains("on unix:\(socketPath)"), "\(server.firstLine)")
        #expect(FileManager.default.fileExists(atPath: socketPath))

        // One long stream holds the only slot (it has sent its first chunk); the next request is refused.
        let holder = try server.connect("GET /sample?seed=5&length=100000 HTTP/1.1\r\n\r\n")
        var held = holder.readHead()
        held.chunks = []
        #expect(held.status == 200 && holder.readChunk(&held) != nil)
        let refused = try server.get("/sample?seed=6&length=10")
        #expect(refused.status == 429 && refused.headers["retry-after"] == "1", "\(refused.status) \(refused.text)")
        #expect(refused.text.hasPrefix("busy: 1 requests running and 0 waiting"))
        // A request that computes nothing is still answered.
        #expect(try server.get("/healthz").text.contains(#""active":1"#))

        // SIGTERM: the held stream ends with its last chunk, a prefix of charrnn-sample's text.
        kill(server.process.processIdentifier, SIGTERM)
        let rest = holder.readAll(after: held)
        #expect(rest.complete, "the stream ends properly")
        // (The text is ASCII, so its bytes are its symbols: charrnn-sample draws the same ones first.)
        #expect(!rest.body.isEmpty && rest.body.count < 100_000, "cut short: \(rest.body.count) bytes")
        let same = try Self.charrnnSample(["--seed", "5", "--length", String(rest.body.count)], in: directory)
        #expect(Array(same.dropLast()) == rest.body, "the stream cut short is a prefix of the sample")
        let stopped = server.terminate()
        #expect(stopped.status == 0 && stopped.stderr == "charrnn-serve: stopped by SIGTERM\n", "\(stopped)")
        #expect(!FileManager.default.fileExists(atPath: socketPath), "the socket file is removed")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
                == ["e0.ckpt", "e1.ckpt", "text.txt", "v.ckpt"], "nothing else is written")
    }

    @Test func badFlagsAreRefused() throws {
        let directory = try Tools.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try EpochCLITests.prepare(directory, cell: "gru", hidden: "6")
        let both = try Tools.run("charrnn-serve", ["--port", "0", "--socket", "x.sock", "e0.ckpt"], directory: directory)
        #expect(both.status == 2)
        both.expectOneLineError("charrnn-serve", containing: "give --port or --socket, not both")
        let vocab = try Tools.run("charrnn-serve", ["--port", "0", "v.ckpt"], directory: directory)
        #expect(vocab.status == 1)
        vocab.expectOneLineError("charrnn-serve", containing: "v.ckpt: a vocab checkpoint has no model to serve")
        let notSocket = try Tools.run("charrnn-serve", ["--socket", "text.txt", "e0.ckpt"], directory: directory)
        #expect(notSocket.status == 1)
        notSocket.expectOneLineError("charrnn-serve", containing: "--socket text.txt: exists and is not a socket; refusing to replace it")
    }
}
