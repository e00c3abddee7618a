// The safetensors container (Hugging Face's format, the one PyTorch users
// load with `safetensors.torch.load_file`), written from its specification:
//
//   u64 (little-endian)  N, the length of the header
//   N bytes              the header: one JSON object, UTF-8, starting with '{',
//                        which MAY end in spaces (writers pad it to a multiple of 8)
//   the rest             the byte buffer: every tensor's data, little-endian,
//                        row-major, back to back
//
// The header maps each tensor's name to {"dtype", "shape", "data_offsets":
// [begin, end]} (offsets into the byte buffer) and may hold "__metadata__",
// an object of string values. The tensors MUST cover the buffer exactly: no
// holes, no overlaps, nothing after the last. `formats/safetensors.md` says
// how charrnn names its tensors and what its metadata holds.
//
// No Swift package for the format is available here, and it is small, so
// this file is the whole reader and writer. It keeps each tensor's bytes as
// they are; Checkpoint+Safetensors.swift maps them to a checkpoint.

/// The ways a safetensors file can be wrong, as the reference implementation names them.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    /// Fewer than the 8 bytes of the header length.
    case headerTooSmall(bytes: Int)
    /// A header length above the limit.
    case headerTooLarge(length: UInt64)
    /// A header length past the end of the file.
    case invalidHeaderLength(length: UInt64, fileSize: Int)
    /// The header does not start with '{'.
    case invalidHeaderStart
    /// The header is not valid UTF-8 JSON.
    case invalidHeader(String)
    /// The JSON is valid but not what the format describes.
    case invalidHeaderDeserialization(String)
    /// A dtype the specification does not list.
    case unknownDtype(tensor: String, dtype: String)
    /// A shape whose element count times the dtype's size is not the length of its data.
    case tensorInvalidInfo(tensor: String, reason: String)
    /// Offsets that leave a hole, overlap, or run past the buffer.
    case invalidOffset(tensor: String)
    /// The tensors do not end where the buffer ends.
    case metadataIncompleteBuffer(covered: UInt64, buffer: Int)
    /// A pipe's buffer goes on past the last tensor (its size is not known in advance).
    case bytesAfterTensors(covered: UInt64)
    /// A pipe whose header claims more tensor bytes than memory can hold.
    case bufferTooLarge(claimed: UInt64, limit: UInt64)

    public var description: String {
        switch self {
        case .headerTooSmall(let bytes):
            return "\(bytes) bytes is too short for a safetensors file (it starts with an 8-byte header length)"
        case .headerTooLarge(let length):
            return "the header claims \(length) bytes, more than the \(Safetensors.maxHeaderLength) a safetensors reader accepts"
        case .invalidHeaderLength(let length, let fileSize):
            return "the header claims \(length) bytes, past the end of the \(fileSize)-byte file (truncated?)"
        case .invalidHeaderStart:
            return "the header does not start with '{': not a safetensors file"
        case .invalidHeader(let reason):
            return "the header is not valid JSON: \(reason)"
        case .invalidHeaderDeserialization(let reason):
            return "the header is not a safetensors header: \(reason)"
        case .unknownDtype(let tensor, let dtype):
            return "tensor '\(tensor)' has dtype '\(dtype)', which the safetensors specification does not list"
        case .tensorInvalidInfo(let tensor, let reason):
            return "tensor '\(tensor)': \(reason)"
        case .invalidOffset(let tensor):
            return "tensor '\(tensor)': its data_offsets leave a hole, overlap another tensor or run past the buffer"
        case .metadataIncompleteBuffer(let covered, let buffer):
            return "the tensors cover \(covered) bytes of a \(buffer)-byte buffer; the rest belongs to no tensor"
        case .bytesAfterTensors(let covered):
            return "the tensors cover \(covered) bytes of the buffer, but more bytes follow; they belong to no tensor"
        case .bufferTooLarge(let claimed, let limit):
            return "the tensors claim \(claimed) bytes, more than the \(limit) this machine's memory can load from a pipe; "
                + "HINT: save it to a file and give that"
        }
    }
}

/// One safetensors file in memory: its metadata and its tensors' bytes, in buffer order.
public struct Safetensors: Equatable, Sendable {
    public struct Tensor: Equatable, Sendable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        /// The tensor's bytes as stored: little-endian, row-major.
        public var data: [UInt8]

        public init(name: String, dtype: String, shape: [Int], data: [UInt8]) {
            self.name = name
            self.dtype = dtype
            self.shape = shape
            self.data = data
        }

        /// A float32 tensor from values, bit for bit.
        public init(name: String, shape: [Int], floats: ArraySlice<Float>) {
            var writer = ByteWriter(capacity: 4 * floats.count)
            floats.withUnsafeBufferPointer { writer.floats($0) }
            self.init(name: name, dtype: "F32", shape: shape, data: writer.bytes)
        }

        /// The values of an F32 tensor, bit for bit.
        public var floats: [Float] {
            precondition(dtype == "F32")
            return (0..<data.count / 4).map { index in
                let base = 4 * index
                let bits = UInt32(data[base]) | UInt32(data[base + 1]) << 8 | UInt32(data[base + 2]) << 16 | UInt32(data[base + 3]) << 24
                return Float(bitPattern: bits)
            }
        }
    }

    /// `__metadata__`: string keys and values, in order.
    public var metadata: [(key: String, value: String)]
    public var tensors: [Tensor]

    /// The reference implementation refuses headers above 100 MB.
    public static let maxHeaderLength: UInt64 = 100_000_000

    /// Bytes per element of each dtype the specification lists (the 4- and 6-bit
    /// float types pack two elements per byte and are not read here).
    public static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
        "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8, "C64": 8,
    ]

    public init(metadata: [(key: String, value: String)], tensors: [Tensor]) {
        self.metadata = metadata
        self.tensors = tensors
    }

    public static func == (lhs: Safetensors, rhs: Safetensors) -> Bool {
        lhs.tensors == rhs.tensors && lhs.metadata.elementsEqual(rhs.metadata, by: { $0 == $1 })
    }

    public func metadata(_ key: String) -> String? {
        metadata.last { $0.key == key }?.value
    }

    // MARK: - Writing

    /// The file's bytes: the header (metadata first, then the tensors in order,
    /// padded with spaces to a multiple of 8 bytes), then the tensors' data.
    public func encoded() -> [UInt8] {
        var members: [(String, JSON)] = []
        if !metadata.isEmpty {
            members.append(("__metadata__", .object(metadata.map { ($0.key, .string($0.value)) })))
        }
        var offset = 0
        for tensor in tensors {
            members.append(
                (
                    tensor.name,
                    .object([
                        ("dtype", .string(tensor.dtype)),
                        ("shape", .array(tensor.shape.map { .int($0) })),
                        ("data_offsets", .array([.int(offset), .int(offset + tensor.data.count)])),
                    ])
                ))
            offset += tensor.data.count
        }
        var header = Array(JSON.object(members).rendered().utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var file = ByteWriter(capacity: 8 + header.count + offset)
        file.u64(UInt64(header.count))
        file.raw(header)
        for tensor in tensors { file.raw(tensor.data) }
        return file.bytes
    }

    // MARK: - Reading

    /// Reads a file held in memory, checking everything the specification
    /// requires (SafetensorsHeader) before anything is allocated for the tensors.
    public init(decoding bytes: [UInt8]) throws(SafetensorsError) {
        let length = try SafetensorsHeader.headerLength(bytes.prefix(8), fileSize: bytes.count)
        let header = try SafetensorsHeader(json: bytes[8..<8 + length], bufferSize: bytes.count - 8 - length)
        self.metadata = header.metadata
        self.tensors = header.entries.map { entry in
            Tensor(
                name: entry.name, dtype: entry.dtype, shape: entry.shape,
                data: Array(bytes[8 + length + entry.begin..<8 + length + entry.end]))
        }
    }
}

/// A safetensors header, read and checked: the metadata, and what each tensor
/// is and where its bytes lie in the buffer. Everything here is checked against
/// the buffer's actual size, so a reader can trust the sizes before it allocates.
public struct SafetensorsHeader: Sendable {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: String
        public var shape: [Int]
        /// Offsets in the byte buffer: begin..<end.
        public var begin: Int
        public var end: Int

        public var byteCount: Int { end - begin }
    }

    /// `__metadata__`: string keys and values, in order.
    public var metadata: [(key: String, value: String)]
    /// The tensors in buffer order (each starts where the previous one ended).
    public var entries: [Entry]
    /// Bytes the tensors cover: the buffer's size.
    public var bufferSize: Int

    init(metadata: [(key: String, value: String)], entries: [Entry], bufferSize: Int) {
        self.metadata = metadata
        self.entries = entries
        self.bufferSize = bufferSize
    }

    /// The last value of metadata `key`, or nil.
    public func metadata(_ key: String) -> String? {
        metadata.last { $0.key == key }?.value
    }

    /// N, the header's length, from the file's first 8 bytes: bounded before
    /// anything is read for it, and checked against the file's size when known.
    static func headerLength(_ first: some Collection<UInt8>, fileSize: Int?) throws(SafetensorsError) -> Int {
        guard first.count >= 8 else { throw .headerTooSmall(bytes: first.count) }
        var length: UInt64 = 0
        for (index, byte) in first.prefix(8).enumerated() { length |= UInt64(byte) << (8 * UInt64(index)) }
        guard length <= Safetensors.maxHeaderLength else { throw .headerTooLarge(length: length) }
        if let fileSize, length > UInt64(fileSize - 8) { throw .invalidHeaderLength(length: length, fileSize: fileSize) }
        return Int(length)
    }

    /// Parses and checks the header's JSON. `bufferSize` is the byte buffer's size
    /// when known (a file); for a pipe it is nil and `bufferLimit` bounds the
    /// claims instead, the buffer then being read to the size the tensors cover.
    init(json bytes: some Collection<UInt8>, bufferSize: Int?, bufferLimit: Int = 0) throws(SafetensorsError) {
        guard bytes.first == UInt8(ascii: "{") else { throw .invalidHeaderStart }
        let header: JSON
        do {
            header = try JSON(parsing: bytes)
        } catch {
            throw .invalidHeader(error.description)
        }
        guard let members = header.members else { throw .invalidHeaderDeserialization("the header is not a JSON object") }
        let limit = bufferSize ?? bufferLimit
        var metadata: [(key: String, value: String)] = []
        var entries: [Entry] = []
        for (name, value) in members {
            if name == "__metadata__" {
                metadata = try Self.metadata(value)
            } else {
                entries.append(try Self.entry(name, value, bufferLimit: limit))
            }
        }
        let covered = try Self.checkCoverage(&entries)
        if let bufferSize, covered != bufferSize {
            throw .metadataIncompleteBuffer(covered: UInt64(covered), buffer: bufferSize)
        }
        self.metadata = metadata
        self.entries = entries
        self.bufferSize = covered
    }

    /// `__metadata__`: an object of strings.
    static func metadata(_ value: JSON) throws(SafetensorsError) -> [(key: String, value: String)] {
        guard let pairs = value.members else { throw .invalidHeaderDeserialization("__metadata__ is not an object of strings") }
        var metadata: [(key: String, value: String)] = []
        for (key, text) in pairs {
            guard let string = text.stringValue else {
                throw .invalidHeaderDeserialization("__metadata__ value '\(key)' is not a string")
            }
            metadata.append((key, string))
        }
        return metadata
    }

    /// One tensor's {"dtype", "shape", "data_offsets"}, each size checked against `bufferLimit` as it is read.
    static func entry(_ name: String, _ value: JSON, bufferLimit: Int) throws(SafetensorsError) -> Entry {
        guard let info = value.members else { throw .invalidHeaderDeserialization("tensor '\(name)' is not an object") }
        for (key, _) in info where !["dtype", "shape", "data_offsets"].contains(key) {
            throw .invalidHeaderDeserialization("tensor '\(name)' has the unknown field '\(key)'")
        }
        guard let dtype = value["dtype"]?.stringValue else {
            throw .invalidHeaderDeserialization("tensor '\(name)' has no dtype string")
        }
        guard let elementSize = Safetensors.dtypeSizes[dtype] else { throw .unknownDtype(tensor: name, dtype: dtype) }
        guard let shapeValues = value["shape"]?.arrayValue else {
            throw .invalidHeaderDeserialization("tensor '\(name)' has no shape list")
        }
        var shape: [Int] = []
        var elements = 1
        for dimension in shapeValues {
            guard let size = dimension.uint64Value, size <= UInt64(bufferLimit) else {
                throw .tensorInvalidInfo(tensor: name, reason: "a dimension is not a whole number the buffer could hold")
            }
            shape.append(Int(size))
            let (product, overflow) = elements.multipliedReportingOverflow(by: Int(size))
            guard !overflow, product <= bufferLimit else {
                throw .tensorInvalidInfo(tensor: name, reason: "the shape \(shape) holds more elements than the buffer has bytes")
            }
            elements = product
        }
        guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
            let begin = offsets[0].uint64Value, let end = offsets[1].uint64Value
        else {
            throw .invalidHeaderDeserialization("tensor '\(name)' has no data_offsets [begin, end]")
        }
        guard begin <= end, end <= UInt64(bufferLimit) else { throw .invalidOffset(tensor: name) }
        guard Int(end - begin) == elements * elementSize else {
            throw .tensorInvalidInfo(
                tensor: name,
                reason: "shape \(shape) of \(dtype) needs \(elements * elementSize) bytes, "
                    + "its data_offsets give \(end - begin)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: Int(begin), end: Int(end))
    }

    /// Sorts the entries into buffer order, each starting where the previous one
    /// ended (no holes, no overlaps); returns where the last one ends.
    static func checkCoverage(_ entries: inout [Entry]) throws(SafetensorsError) -> Int {
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        for entry in entries {
            guard entry.begin == covered else { throw .invalidOffset(tensor: entry.name) }
            covered = entry.end
        }
        return covered
    }
}

/// A safetensors file opened for reading: its header, read and checked against
/// the file's size first, and its tensors' bytes, read one tensor at a time
/// when asked for. The work before the checks is bounded: 8 bytes, then the
/// header (at most `Safetensors.maxHeaderLength`); a regular file's size comes
/// from fstat, and a pipe is read only as far as the tensors the header
/// describes, incrementally and up to half the memory budget.
public struct SafetensorsReader {
    public let header: SafetensorsHeader
    private let buffer: Buffer

    private enum Buffer {
        /// A file in memory and where its byte buffer starts.
        case memory([UInt8], base: Int)
        /// A regular file, read with pread from `base`.
        case file(descriptor: Int32, name: String, base: Int)
    }

    /// A file held in memory.
    public init(bytes: [UInt8]) throws(SafetensorsError) {
        let length = try SafetensorsHeader.headerLength(bytes.prefix(8), fileSize: bytes.count)
        header = try SafetensorsHeader(json: bytes[8..<8 + length], bufferSize: bytes.count - 8 - length)
        buffer = .memory(bytes, base: 8 + length)
    }

    /// An in-memory file as written (the writer's offsets), for the mapping's own tests.
    public init(_ file: Safetensors) {
        var entries: [SafetensorsHeader.Entry] = []
        var data: [UInt8] = []
        for tensor in file.tensors {
            entries.append(
                .init(
                    name: tensor.name, dtype: tensor.dtype, shape: tensor.shape, begin: data.count,
                    end: data.count + tensor.data.count))
            data += tensor.data
        }
        header = SafetensorsHeader(metadata: file.metadata, entries: entries, bufferSize: data.count)
        buffer = .memory(data, base: 0)
    }

    /// Reads `input`: a regular file at offsets, a pipe or device front to back.
    /// Throws SafetensorsError for a file that breaks the format, FileError for I/O.
    public init(reading input: InputFile, memoryBudget: UInt64 = physicalMemoryBytes) throws {
        if let source = input.checkpointSource() {
            let first = try source.prefix(8)
            let length = try SafetensorsHeader.headerLength(first, fileSize: source.count)
            let json = try source.bytes(at: 8, length: length)
            header = try SafetensorsHeader(json: json, bufferSize: source.count - 8 - length)
            buffer = .file(descriptor: source.descriptor, name: source.name, base: source.base + 8 + length)
            return
        }
        var stream = BoundedReader(input)
        let length = try SafetensorsHeader.headerLength(try stream.read(8), fileSize: nil)
        let json = try stream.read(length)
        guard json.count == length else {
            throw SafetensorsError.invalidHeaderLength(length: UInt64(length), fileSize: 8 + json.count)
        }
        // Sizes are checked against a bound that keeps their arithmetic from overflowing,
        // then what the tensors cover against the memory a pipe's buffer may take.
        header = try SafetensorsHeader(json: json, bufferSize: nil, bufferLimit: Int.max / 16)
        if memoryBudget > 0, UInt64(header.bufferSize) > memoryBudget / 2 {
            throw SafetensorsError.bufferTooLarge(claimed: UInt64(header.bufferSize), limit: memoryBudget / 2)
        }
        // The buffer is as long as the tensors say, and no longer; it grows as bytes arrive.
        let data = try stream.read(header.bufferSize + 1)
        if data.count > header.bufferSize { throw SafetensorsError.bytesAfterTensors(covered: UInt64(header.bufferSize)) }
        if data.count < header.bufferSize {
            // As a file of this size would be refused: the first tensor that runs past its end.
            _ = try SafetensorsHeader(json: json, bufferSize: data.count)
            throw SafetensorsError.metadataIncompleteBuffer(covered: UInt64(header.bufferSize), buffer: data.count)
        }
        buffer = .memory(data, base: 0)
    }

    /// The values of an F32 tensor, bit for bit, written into `destination` (entry's element count).
    public func readFloats(_ entry: SafetensorsHeader.Entry, into destination: UnsafeMutableBufferPointer<Float>) throws {
        precondition(entry.dtype == "F32" && destination.count * 4 == entry.byteCount)
        switch buffer {
        case .memory(let bytes, let base):
            bytes.withUnsafeBytes { raw in
                for index in 0..<destination.count {
                    let bits = raw.loadUnaligned(fromByteOffset: base + entry.begin + 4 * index, as: UInt32.self)
                    destination[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
            }
        case .file(let descriptor, let name, let base):
            let source = FileSource(descriptor: descriptor, name: name, base: base, count: header.bufferSize)
            var done = 0
            try source.forEachPiece(at: entry.begin, length: entry.byteCount) { piece in
                for index in 0..<piece.count / 4 {
                    destination[done + index] = Float(
                        bitPattern: UInt32(
                            littleEndian: piece.loadUnaligned(
                                fromByteOffset: 4 * index,
                                as: UInt32.self)))
                }
                done += piece.count / 4
            }
        }
    }

    /// The values of an F32 tensor, bit for bit.
    public func floats(_ entry: SafetensorsHeader.Entry) throws -> [Float] {
        try [Float](unsafeUninitializedCapacity: entry.byteCount / 4) { values, count in
            try readFloats(entry, into: values)
            count = values.count
        }
    }
}

/// Reads a pipe front to back, never asking for more than it was told to read:
/// a buffer grows with the bytes that arrive, not with the bytes claimed.
private struct BoundedReader {
    let input: InputFile
    init(_ input: InputFile) { self.input = input }

    /// Up to `count` bytes: fewer only at the end of the input.
    mutating func read(_ count: Int) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: min(max(count, 1), 1 << 20))
        while bytes.count < count {
            let want = min(chunk.count, count - bytes.count)
            let got = try chunk.withUnsafeMutableBytes { try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<want])) }
            if got == 0 { break }
            bytes.append(contentsOf: chunk[0..<got])
        }
        return bytes
    }
}

extension FileSource {
    /// The first `count` bytes, or as many as the file has.
    func prefix(_ count: Int) throws -> [UInt8] {
        try bytes(at: 0, length: min(count, self.count))
    }

    func bytes(at offset: Int, length: Int) throws -> [UInt8] {
        try withBytes(at: offset, length: length) { Array($0) }
    }
}
