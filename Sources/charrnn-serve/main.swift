// charrnn-serve: a model behind HTTP. GET /sample streams what charrnn-sample
// would print, POST /score scores a text, GET /healthz and GET / (a page).
// The server and the service live in the library (Serve/); this file reads
// the flags and the checkpoint, and reports.

import ArgumentParser
import CharRNN
import CharRNNCLI
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Serve: CharRNNTool {
    static let configuration = CommandConfiguration(
        commandName: "charrnn-serve",
        abstract: "Serve a model over HTTP: streamed samples, scores, a page.",
        discussion: """
            GET /sample?prime=&length=&temperature=&top_k=&top_p=&seed= streams the text as it \
            is drawn (chunked): with a seed, byte for byte what charrnn-sample prints with the \
            same flags (the X-Seed header gives the seed used). POST /score (the body is UTF-8 \
            text) returns JSON with the loss per character; ?per_char=1 adds the rows of \
            charrnn-sample --score --per-char. GET /healthz returns JSON; GET / a small page. \
            Each request has its own state. At most --max-active requests compute at once and \
            --max-queue more wait; beyond that, and beyond --max-connections, the answer is \
            429; bad parameters get 400 with one line saying why. SIGTERM or SIGINT stops \
            accepting, ends the running streams and exits 0 (docs/deployment.md). Nothing is written but the \
            socket file of --socket, which is removed at exit.
            """,
        version: CharRNNVersion.line(tool: "charrnn-serve"))

    static let examples = [
        "charrnn-serve --port 8080 e10.ckpt",
        "curl -N 'http://127.0.0.1:8080/sample?prime=ROMEO:&seed=7&length=200'",
        "curl --data-binary @input.txt 'http://127.0.0.1:8080/score?per_char=1'",
        "charrnn-serve --socket /tmp/charrnn.sock e10.ckpt",
        "curl --unix-socket /tmp/charrnn.sock http://localhost/healthz",
    ]

    @Argument(help: ArgumentHelp("Model checkpoint ('-': standard input).", valueName: "CHECKPOINT"), completion: .file())
    var input: String = "-"

    @Option(help: ArgumentHelp("TCP port to listen on (0: any free port, printed at start). (default: 8080)", valueName: "PORT"))
    var port: Int?

    @Option(help: ArgumentHelp("Address to listen on.", valueName: "HOST"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Listen on this Unix socket instead of TCP.", valueName: "PATH"), completion: .file())
    var socket: String?

    @Option(name: .customLong("max-active"), help: ArgumentHelp("Requests computing at once.", valueName: "N"))
    var maxActive = 16

    @Option(name: .customLong("max-queue"), help: ArgumentHelp("Requests waiting for one of those; more get 429.", valueName: "N"))
    var maxQueue = 64

    @Option(name: .customLong("max-connections"), help: ArgumentHelp("Open connections; more get 429 at once.", valueName: "N"))
    var maxConnections = 256

    @Option(name: .customLong("max-length"), help: ArgumentHelp("The largest length a sample may ask for.", valueName: "N"))
    var maxLength = 100_000

    @Option(name: .customLong("max-body"), help: ArgumentHelp("The largest text /score takes, in bytes.", valueName: "BYTES"))
    var maxBody = 1 << 20

    @OptionGroup var verbosity: QuietOption
    @OptionGroup var checking: CheckOption

    var quiet: Bool { verbosity.quiet }
    var checkOnly: Bool { checking.check }

    func validate() throws {
        if socket != nil, port != nil { throw ValidationError("give --port or --socket, not both") }
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be 0 to 65535, not \(port)") }
        for (flag, value, low) in [
            ("--max-active", maxActive, 1), ("--max-queue", maxQueue, 0), ("--max-connections", maxConnections, 1),
            ("--max-length", maxLength, 0), ("--max-body", maxBody, 2),
        ] where value < low || value > 1 << 30 {
            throw ValidationError("\(flag) must be \(low) to \(1 << 30), not \(value)")
        }
    }

    func run() throws {
        let (checkpoint, name) = try loadCheckpoint(path: input, options: .skipOptimizer)
        guard let model = checkpoint.model else {
            throw ToolError("\(name): a vocab checkpoint has no model to serve; HINT: charrnn-init, then charrnn-epoch")
        }
        var limits = HTTPServer.Limits()
        limits.maxActive = maxActive
        limits.maxQueue = maxQueue
        limits.maxConnections = maxConnections
        limits.maxBody = maxBody
        // Signals are taken before any thread starts, so that every thread has them blocked.
        let stopper = Stopper()
        HTTPServer.onTerminationSignals { signal in stopper.stop(signal) }
        let server: HTTPServer
        do {
            server = try HTTPServer(address: socket.map { .unix(path: $0) } ?? .tcp(host: host, port: port ?? 8080), limits: limits)
        } catch {
            throw ToolError("\(error)")
        }
        stopper.server = server
        let service = SampleService(model: model, alphabet: checkpoint.alphabet, name: name, maxLength: maxLength)
        if !quiet {
            printError("charrnn-serve: \(name) (\(service.modelDescription)) on \(server.endpoint)")
        }
        server.serve { request, connection in service.handle(request, connection, server: server) }
        if !quiet { printError("charrnn-serve: stopped by \(stopper.signalName)") }
    }
}

/// Hands the signal thread's news to the server, which may not exist yet when a signal comes.
final class Stopper: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var signal: Int32 = 0
    private var _server: HTTPServer?

    init() { pthread_mutex_init(lock, nil) }

    var server: HTTPServer? {
        get { pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }; return _server }
        set {
            pthread_mutex_lock(lock)
            _server = newValue
            let stopped = signal != 0
            pthread_mutex_unlock(lock)
            if stopped { newValue?.stop() }
        }
    }

    func stop(_ received: Int32) {
        pthread_mutex_lock(lock)
        signal = received
        let server = _server
        pthread_mutex_unlock(lock)
        server?.stop()
    }

    var signalName: String {
        pthread_mutex_lock(lock); defer { pthread_mutex_unlock(lock) }
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }
}

Serve.runAsTool()
