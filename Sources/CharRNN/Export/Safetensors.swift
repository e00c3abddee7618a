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
            members.append((tensor.name, .object([
                ("dtype", .string(tensor.dtype)),
                ("shape", .array(tensor.shape.map { .int($0) })),
                ("data_offsets", .array([.int(offset), .int(offset + tensor.data.count)])),
            ])))
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

    /// Reads a file, checking everything the specification requires before
    /// anything is allocated for the tensors.
    public init(decoding bytes: [UInt8]) throws(SafetensorsError) {
        guard bytes.count >= 8 else { throw .headerTooSmall(bytes: bytes.count) }
        var length: UInt64 = 0
        for index in 0..<8 { length |= UInt64(bytes[index]) << (8 * UInt64(index)) }
        guard length <= Self.maxHeaderLength else { throw .headerTooLarge(length: length) }
        guard length <= UInt64(bytes.count - 8) else { throw .invalidHeaderLength(length: length, fileSize: bytes.count) }
        let headerEnd = 8 + Int(length)
        guard length > 0, bytes[8] == UInt8(ascii: "{") else { throw .invalidHeaderStart }
        let header: JSON
        do {
            header = try JSON(parsing: bytes[8..<headerEnd])
        } catch {
            throw .invalidHeader(error.description)
        }
        guard let members = header.members else { throw .invalidHeaderDeserialization("the header is not a JSON object") }
        let bufferSize = bytes.count - headerEnd

        var metadata: [(key: String, value: String)] = []
        var entries: [(name: String, dtype: String, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard let pairs = value.members else {
                    throw .invalidHeaderDeserialization("__metadata__ is not an object of strings")
                }
                for (key, text) in pairs {
                    guard let string = text.stringValue else {
                        throw .invalidHeaderDeserialization("__metadata__ value '\(key)' is not a string")
                    }
                    metadata.append((key, string))
                }
                continue
            }
            guard let info = value.members else { throw .invalidHeaderDeserialization("tensor '\(name)' is not an object") }
            for (key, _) in info where !["dtype", "shape", "data_offsets"].contains(key) {
                throw .invalidHeaderDeserialization("tensor '\(name)' has the unknown field '\(key)'")
            }
            guard let dtype = value["dtype"]?.stringValue else {
                throw .invalidHeaderDeserialization("tensor '\(name)' has no dtype string")
            }
            guard let elementSize = Self.dtypeSizes[dtype] else { throw .unknownDtype(tensor: name, dtype: dtype) }
            guard let shapeValues = value["shape"]?.arrayValue else {
                throw .invalidHeaderDeserialization("tensor '\(name)' has no shape list")
            }
            var shape: [Int] = []
            var elements = 1
            for dimension in shapeValues {
                guard let size = dimension.uint64Value, size <= UInt64(bufferSize) else {
                    throw .tensorInvalidInfo(tensor: name, reason: "a dimension is not a whole number the buffer could hold")
                }
                shape.append(Int(size))
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(size))
                guard !overflow, product <= bufferSize else {
                    throw .tensorInvalidInfo(tensor: name, reason: "the shape \(shape) holds more elements than the buffer has bytes")
                }
                elements = product
            }
            guard let offsets = value["data_offsets"]?.arrayValue, offsets.count == 2,
                  let begin = offsets[0].uint64Value, let end = offsets[1].uint64Value else {
                throw .invalidHeaderDeserialization("tensor '\(name)' has no data_offsets [begin, end]")
            }
            guard begin <= end, end <= UInt64(bufferSize) else { throw .invalidOffset(tensor: name) }
            guard Int(end - begin) == elements * elementSize else {
                throw .tensorInvalidInfo(tensor: name, reason: "shape \(shape) of \(dtype) needs \(elements * elementSize) bytes, "
                                         + "its data_offsets give \(end - begin)")
            }
            entries.append((name, dtype, shape, Int(begin), Int(end)))
        }
        // Sorted by offset, each tensor must start where the previous one ended.
        var covered = 0
        for entry in entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            guard entry.begin == covered else { throw .invalidOffset(tensor: entry.name) }
            covered = entry.end
        }
        guard covered == bufferSize else { throw .metadataIncompleteBuffer(covered: UInt64(covered), buffer: bufferSize) }
        self.metadata = metadata
        self.tensors = entries.sorted { $0.begin < $1.begin }.map {
            Tensor(name: $0.name, dtype: $0.dtype, shape: $0.shape, data: Array(bytes[headerEnd + $0.begin..<headerEnd + $0.end]))
        }
    }
}
