// The small part of HTTP/1.1 (RFC 9112) that charrnn-serve speaks: one
// request per connection (every response says Connection: close), a body only
// with Content-Length (and Expect: 100-continue honoured), and responses
// either whole or streamed in chunks (Transfer-Encoding: chunked). Enough for
// curl, browsers and load generators; not a general server.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A request as read from a connection.
public struct HTTPRequest: Sendable {
    public var method: String
    /// The path, percent-decoded, without the query.
    public var path: String
    /// The query's name=value pairs in order, percent-decoded ('+' is a space).
    public var query: [(name: String, value: String)]
    /// Header names lower-cased.
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// Why a request could not be read: the status to answer with (0: answer nothing, the peer is gone).
public struct HTTPError: Error, Sendable {
    public let status: Int
    public let message: String
    public init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// The peer closed the connection or a send failed: stop producing.
public struct HTTPPeerGone: Error, Sendable {}

/// One accepted connection: reads the request, writes the response.
public final class HTTPConnection {
    public let descriptor: Int32
    private var buffer: [UInt8] = []
    /// Whether the response has begun (then no error response can follow).
    public private(set) var responded = false
    private var chunked = false

    public static let maxHeaderBytes = 16 * 1024

    init(descriptor: Int32) { self.descriptor = descriptor }

    // MARK: - Reading

    /// Reads the request line, the headers and (up to `maxBody` bytes) the body.
    public func readRequest(maxBody: Int) throws(HTTPError) -> HTTPRequest {
        var headerEnd: Int? = nil
        while headerEnd == nil {
            if let end = Self.find([13, 10, 13, 10], in: buffer) { headerEnd = end; break }
            guard buffer.count <= Self.maxHeaderBytes else { throw HTTPError(431, "the request's headers exceed \(Self.maxHeaderBytes) bytes") }
            guard try fill() else {
                throw HTTPError(buffer.isEmpty ? 0 : 400, "the connection closed inside the request's headers")
            }
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        buffer.removeFirst(headerEnd! + 4)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1."), requestLine[1].hasPrefix("/") else {
            throw HTTPError(400, "a request line is METHOD /PATH HTTP/1.1")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw HTTPError(400, "a header line without ':'") }
            headers.append((line[..<colon].lowercased(), String(line[line.index(after: colon)...]).trimmingSpaces()))
        }
        let target = requestLine[1]
        let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        guard let path = Self.percentDecoded(pathPart[0], plusIsSpace: false) else {
            throw HTTPError(400, "the path is not valid percent-encoded UTF-8")
        }
        var query: [(name: String, value: String)] = []
        if pathPart.count == 2 {
            for pair in pathPart[1].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = Self.percentDecoded(parts[0], plusIsSpace: true),
                    let value = Self.percentDecoded(parts.count == 2 ? parts[1] : "", plusIsSpace: true)
                else {
                    throw HTTPError(400, "the query is not valid percent-encoded UTF-8")
                }
                query.append((name, value))
            }
        }
        var request = HTTPRequest(method: String(requestLine[0]), path: path, query: query, headers: headers, body: [])
        if request.header("transfer-encoding") != nil {
            throw HTTPError(411, "send the body with Content-Length, not Transfer-Encoding")
        }
        if let lengthText = request.header("content-length") {
            guard let length = Int(lengthText), length >= 0 else { throw HTTPError(400, "Content-Length is not a number: \(lengthText)") }
            guard length <= maxBody else { throw HTTPError(413, "the body has \(length) bytes; at most \(maxBody) are accepted") }
            if request.header("expect")?.lowercased() == "100-continue" { try? send(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
            while buffer.count < length {
                guard try fill() else { throw HTTPError(400, "the connection closed inside the body") }
            }
            request.body = Array(buffer[..<length])
        }
        return request
    }

    /// Reads more bytes into the buffer; false at the end of input.
    private func fill() throws(HTTPError) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer += chunk[..<count]
                return true
            }
            if count == 0 { return false }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { throw HTTPError(408, "the request was not sent in time") }
            throw HTTPError(0, "receive failed")
        }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<start + needle.count]) == needle { return start }
        }
        return nil
    }

    static func percentDecoded(_ text: Substring, plusIsSpace: Bool) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                bytes.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace: bytes.append(UInt8(ascii: " "))
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: - Writing

    public static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Error"
        }
    }

    private func head(_ status: Int, contentType: String, extra: [(String, String)], length: Int?) -> [UInt8] {
        var text =
            "HTTP/1.1 \(status) \(Self.reason(status))\r\nContent-Type: \(contentType)\r\nConnection: close\r\n"
            + "Cache-Control: no-store\r\n"
        text += length.map { "Content-Length: \($0)\r\n" } ?? "Transfer-Encoding: chunked\r\n"
        for (name, value) in extra { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    /// A whole response.
    public func respond(_ status: Int, contentType: String, body: [UInt8], extra: [(String, String)] = []) throws(HTTPPeerGone) {
        responded = true
        try send(head(status, contentType: contentType, extra: extra, length: body.count) + body)
    }

    /// A one-line plain-text response (errors, refusals).
    public func respond(_ status: Int, text: String, extra: [(String, String)] = []) throws(HTTPPeerGone) {
        try respond(status, contentType: "text/plain; charset=utf-8", body: Array((text + "\n").utf8), extra: extra)
    }

    /// Starts a chunked response; then `writeChunk` and `finishChunks`.
    public func beginChunks(_ status: Int, contentType: String, extra: [(String, String)] = []) throws(HTTPPeerGone) {
        responded = true
        chunked = true
        try send(head(status, contentType: contentType, extra: extra, length: nil))
    }

    public func writeChunk(_ bytes: [UInt8]) throws(HTTPPeerGone) {
        guard !bytes.isEmpty else { return }
        try send(Array((String(bytes.count, radix: 16) + "\r\n").utf8) + bytes + [13, 10])
    }

    /// The last chunk: the response is complete.
    public func finishChunks() throws(HTTPPeerGone) {
        chunked = false
        try send(Array("0\r\n\r\n".utf8))
    }

    func send(_ bytes: [UInt8]) throws(HTTPPeerGone) {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { sendNoSignal(descriptor, $0.baseAddress! + sent, $0.count - sent) }
            if count > 0 { sent += count; continue }
            if count < 0, errno == EINTR { continue }
            throw HTTPPeerGone()
        }
    }
}

/// send(2) without SIGPIPE (a peer gone is an error to handle, not a signal), under a
/// name that HTTPConnection.send does not shadow.
func sendNoSignal(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    send(descriptor, bytes, count, Int32(MSG_NOSIGNAL))
    #else
    send(descriptor, bytes, count, 0)
    #endif
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
