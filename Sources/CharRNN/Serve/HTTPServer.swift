// A small HTTP/1.1 server over POSIX sockets: a listener on a TCP port or a
// Unix socket, one thread per connection (a connection is one request), and
// the limits that keep a CPU-bound service responsive:
//
//   connections  at most maxConnections open; the next is answered 429 at once
//   slots        at most maxActive requests compute (sample, score) at a time;
//                up to maxQueue more wait for a slot in arrival order of
//                wake-up; beyond that 429
//   reading      a request must arrive within readTimeout seconds (408)
//
// stop() (from a signal) closes the listener, wakes the waiting requests
// (503) and tells the running ones to finish (they check `isStopping`);
// serve() returns once every connection has closed, forcing the stragglers'
// sockets shut after `grace` seconds, and removes its Unix socket file.
// Why not swift-nio or Hummingbird: docs/deployment.md ("The server").

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CCharRNNSupport
import Synchronization

public struct ServeError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

public final class HTTPServer: @unchecked Sendable {
    public enum Address: Sendable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public struct Limits: Sendable {
        public var maxActive = 16
        public var maxQueue = 64
        public var maxConnections = 256
        public var maxBody = 1 << 20
        public var readTimeout = 10
        public var grace = 5
        public init() {}
    }

    /// Handles one request; the connection is closed after it returns.
    public typealias Handler = @Sendable (HTTPRequest, HTTPConnection) -> Void

    public let limits: Limits
    /// "http://127.0.0.1:8080" or "unix:/path/to.sock".
    public let endpoint: String
    /// The TCP port bound (the kernel's choice for port 0), nil for a Unix socket.
    public let port: Int?
    private let listener: Int32
    private let unixPath: String?
    /// stop() writes a byte here, which wakes the accept loop's poll.
    private let wakePipe: (read: Int32, write: Int32)
    private let floatingPointMode: UInt32

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var openConnections = Set<Int32>()
    private var active = 0
    private var queued = 0
    private let stopping = Atomic<Bool>(false)

    /// Binds and listens; throws a one-line reason.
    public init(address: Address, limits: Limits) throws(ServeError) {
        self.limits = limits
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw ServeError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        wakePipe = (pipeEnds[0], pipeEnds[1])
        let mode = charrnn_enable_flush_denormals()
        charrnn_restore_mxcsr(mode)
        floatingPointMode = mode
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        switch address {
        case .tcp(let host, let portNumber):
            (listener, port) = try Self.listenTCP(host: host, port: portNumber)
            unixPath = nil
            endpoint = "http://\(host.contains(":") ? "[\(host)]" : host):\(port!)"
        case .unix(let path):
            listener = try Self.listenUnix(path: path)
            port = nil
            unixPath = path
            endpoint = "unix:\(path)"
        }
    }

    deinit {
        close(wakePipe.read); close(wakePipe.write)
        pthread_mutex_destroy(mutex); mutex.deallocate()
        pthread_cond_destroy(changed); changed.deallocate()
    }

    private static func failure(_ what: String) -> ServeError {
        ServeError("\(what): \(String(cString: strerror(errno)))")
    }

    private static func listenTCP(host: String, port: Int) throws(ServeError) -> (Int32, Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var found: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host, String(port), &hints, &found)
        guard status == 0, let info = found else {
            throw ServeError("--host \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(found) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let error = failure("cannot listen on \(host):\(port)")
            close(fd)
            throw error
        }
        guard listen(fd, 512) == 0 else { close(fd); throw failure("listen") }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let family = storage.ss_family
        let bound: UInt16 = withUnsafePointer(to: &storage) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        return (fd, Int(bound))
    }

    private static func unixAddress(_ path: String) throws(ServeError) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard !bytes.isEmpty, bytes.count < capacity else {
            throw ServeError("--socket \(path): a socket path has 1 to \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in bytes.enumerated() { raw[index] = byte }
        }
        return address
    }

    /// A socket file left by a server that is gone is replaced; a live one, or any other file, is not.
    private static func listenUnix(path: String) throws(ServeError) -> Int32 {
        var address = try unixAddress(path)
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw ServeError("--socket \(path): exists and is not a socket; refusing to replace it")
            }
            let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            let live = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, length) == 0 }
            }
            close(probe)
            guard !live else { throw ServeError("--socket \(path): another server is listening there") }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw failure("socket") }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else {
            let error = failure("--socket \(path)")
            close(fd)
            throw error
        }
        guard listen(fd, 512) == 0 else { close(fd); throw failure("listen") }
        return fd
    }

    // MARK: - Serving

    /// Accepts connections until stop(), each handled on its own thread; returns when all have closed.
    public func serve(_ handler: @escaping Handler) {
        while !isStopping {
            var fds = [pollfd(fd: listener, events: Int16(POLLIN), revents: 0), pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 { if errno == EINTR { continue } else { break } }
            if fds[1].revents != 0 || isStopping { break }
            guard fds[0].revents != 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }  // EAGAIN, ECONNABORTED, EMFILE: try again
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            lock()
            let admitted = openConnections.count < limits.maxConnections
            if admitted { openConnections.insert(fd) }
            unlock()
            guard admitted else {
                let connection = HTTPConnection(descriptor: fd)
                try? connection.respond(
                    429, text: "too many connections (at most \(limits.maxConnections)); try again later",
                    extra: [("Retry-After", "1")])
                close(fd)
                continue
            }
            spawn { [self] in handle(fd, handler) }
        }
        close(listener)
        drain()
        if let unixPath { unlink(unixPath) }
    }

    private func handle(_ fd: Int32, _ handler: Handler) {
        charrnn_restore_mxcsr(floatingPointMode)
        var timeout = timeval(tv_sec: limits.readTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if port != nil {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let connection = HTTPConnection(descriptor: fd)
        do {
            let request = try connection.readRequest(maxBody: limits.maxBody)
            handler(request, connection)
        } catch {
            if error.status != 0 { try? connection.respond(error.status, text: error.message) }
        }
        lock()
        openConnections.remove(fd)
        close(fd)
        pthread_cond_broadcast(changed)
        unlock()
    }

    /// Waits for the open connections to close: `grace` seconds, then shuts their sockets.
    private func drain() {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        deadline.tv_sec += limits.grace
        lock()
        while !openConnections.isEmpty {
            if pthread_cond_timedwait(changed, mutex, &deadline) == ETIMEDOUT {
                for fd in openConnections { shutdown(fd, Int32(SHUT_RDWR)) }
                while !openConnections.isEmpty { pthread_cond_wait(changed, mutex) }
            }
        }
        unlock()
    }

    /// Ends serve(): safe from any thread, any number of times.
    public func stop() {
        guard !stopping.exchange(true, ordering: .sequentiallyConsistent) else { return }
        var byte: UInt8 = 1
        _ = write(wakePipe.write, &byte, 1)
        lock()
        pthread_cond_broadcast(changed)
        unlock()
    }

    public var isStopping: Bool { stopping.load(ordering: .sequentiallyConsistent) }

    // MARK: - Slots

    public enum Admission: Sendable { case granted, full, stopping }

    /// A compute slot: at once if one is free, after waiting if the queue has room.
    public func acquireSlot() -> Admission {
        lock()
        defer { unlock() }
        if isStopping { return .stopping }
        if active < limits.maxActive {
            active += 1
            return .granted
        }
        guard queued < limits.maxQueue else { return .full }
        queued += 1
        while active >= limits.maxActive, !isStopping { pthread_cond_wait(changed, mutex) }
        queued -= 1
        if isStopping { return .stopping }
        active += 1
        return .granted
    }

    public func releaseSlot() {
        lock()
        active -= 1
        pthread_cond_broadcast(changed)
        unlock()
    }

    /// (computing, waiting, open connections), for /healthz.
    public var load: (active: Int, queued: Int, connections: Int) {
        lock()
        defer { unlock() }
        return (active, queued, openConnections.count)
    }

    private func lock() { pthread_mutex_lock(mutex) }
    private func unlock() { pthread_mutex_unlock(mutex) }

    // MARK: - Threads and signals

    private final class ThreadBody {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    /// Runs `body` on a new detached thread.
    static func spawnThread(_ body: @escaping () -> Void) {
        let context = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        pthread_create(
            &thread, &attributes,
            { raw in
                Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue().run()
                return nil
            }, context)
        pthread_attr_destroy(&attributes)
    }

    private func spawn(_ body: @escaping () -> Void) { Self.spawnThread(body) }

    /// Blocks SIGTERM, SIGINT and SIGHUP in this thread and every thread started after,
    /// and waits for them on a thread of their own: the first calls `received(signal)`.
    /// Call before serve() and before any other thread starts.
    public static func onTerminationSignals(_ received: @escaping @Sendable (Int32) -> Void) {
        var signals = sigset_t()
        sigemptyset(&signals)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&signals, signal) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)
        let waited = signals
        spawnThread {
            var set = waited
            var signal: Int32 = 0
            while sigwait(&set, &signal) != 0 {}
            received(signal)
        }
    }
}
