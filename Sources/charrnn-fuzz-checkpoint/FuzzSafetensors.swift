// The safetensors modes of the fuzz target: what `charrnn-convert --from
// safetensors` does with a file (the container's reader, in memory and as the
// tool reads it, then the mapping to a checkpoint), and what must hold for a
// file it accepts: the checkpoint is one the writer writes, and converting it
// to safetensors and back gives the same checkpoint.
//
//   4 safetensors: the rest of the input is a safetensors file, read as it is;
//   5 stfields:    the rest picks one of the values mode's checkpoints as a
//                  safetensors file (byte 1) and edits its header's JSON: each
//                  10 bytes are an edit (u8: what), a target (u8: which tensor
//                  or metadata key) and 8 bytes of value. The edits reach the
//                  fields a byte-level mutation rarely keeps valid JSON for:
//                  offsets, shapes, dtypes, names, and the charrnn metadata
//                  (cell, sizes, alphabet, optimizer, settings, history, notes).

import CharRNN
import CharRNNTestSupport
import Foundation

/// The stfields mode's files: the values mode's checkpoints as safetensors.
nonisolated(unsafe) var safetensorsSeeds: [[UInt8]] = []

/// The container and the mapping, as charrnn-convert --from safetensors runs them.
func exerciseSafetensors(_ bytes: [UInt8]) -> String {
    let reader: SafetensorsReader
    do {
        reader = try SafetensorsReader(bytes: bytes)
    } catch {
        precondition((try? Safetensors(decoding: bytes)) == nil, "Safetensors(decoding:) takes what SafetensorsReader refuses")
        return "container: \(Mirror(reflecting: error).children.first?.label ?? "\(error)")"
    }
    precondition((try? Safetensors(decoding: bytes)) != nil, "Safetensors(decoding:) refuses what SafetensorsReader takes")
    let checkpoint: Checkpoint
    do {
        checkpoint = try Checkpoint(safetensors: reader, memoryBudget: 1 << 30)
    } catch let error as SafetensorsConversionError {
        // The message's first words say which check refused it.
        return "mapping: " + error.message.split(separator: " ").prefix(2).joined(separator: " ")
    } catch {
        fatalError("the mapping threw something other than a SafetensorsConversionError: \(error)")
    }
    // What the mapping accepts, the writer writes, and the round trip gives back.
    let encoded: [UInt8]
    do {
        encoded = try checkpoint.encoded()
    } catch {
        fatalError("the writer refuses a checkpoint the safetensors mapping accepted: \(error)")
    }
    let reread: Checkpoint
    do {
        reread = try Checkpoint(decoding: encoded)
    } catch {
        fatalError("the reader refuses what the writer wrote from a converted file: \(error)")
    }
    let again: Checkpoint
    do {
        again = try Checkpoint(safetensors: try SafetensorsReader(bytes: reread.safetensors().encoded()))
    } catch {
        fatalError("a checkpoint converted from safetensors does not convert back: \(error)")
    }
    precondition((try? again.encoded()) == encoded, "the safetensors round trip changes the checkpoint")
    return "accepted: " + (checkpoint.model == nil ? "vocab" : "model, \(checkpoint.optimizer == nil ? "no" : "with") optimizer")
}

/// A seed file with its header edited as `program` says (see the file's comment).
func mutatedSafetensors(_ program: [UInt8]) -> [UInt8] {
    guard let first = program.first, !safetensorsSeeds.isEmpty else { return [] }
    let seed = safetensorsSeeds[Int(first) % safetensorsSeeds.count]
    let headerLength = seed.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    guard case .object(var members)? = try? JSON(parsing: seed[8..<8 + headerLength]) else { return seed }
    var buffer = Array(seed[(8 + headerLength)...])
    var lengthDelta: Int64 = 0
    var offset = 1
    while offset + 10 <= program.count, offset < 1 + 10 * 8 {
        let what = program[offset], target = Int(program[offset + 1])
        let raw = program[(offset + 2)..<(offset + 10)].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        offset += 10
        guard !members.isEmpty else { break }
        let index = target % members.count
        let small = Int(Int8(truncatingIfNeeded: raw))
        switch what % 12 {
        case 0, 1:  // an offset: nudged, or set to a raw value
            editTensor(&members[index].1) { info in
                editArray(&info, "data_offsets", at: Int(what % 2)) { value in
                    what % 24 < 12 ? .int(Int(clamping: (value.uint64Value ?? 0)) &+ small) : .uint(raw)
                }
            }
        case 2:  // a dimension
            editTensor(&members[index].1) { info in
                editArray(&info, "shape", at: Int(raw >> 32) % 3) { value in
                    raw & 1 == 0 ? .int(max(0, Int(clamping: value.uint64Value ?? 0) &+ small)) : .uint(raw >> 8)
                }
            }
        case 3:  // the dtype
            let dtypes = ["F32", "F16", "BF16", "F64", "U8", "I64", "F4", ""]
            editTensor(&members[index].1) { info in info = info.map { $0.0 == "dtype" ? ($0.0, .string(dtypes[Int(raw % 8)])) : $0 } }
        case 4:  // a tensor or key removed
            members.remove(at: index)
        case 5:  // a name changed: one byte of it
            var name = Array(members[index].0.utf8)
            if !name.isEmpty { name[Int(raw >> 8) % name.count] = UInt8(truncatingIfNeeded: raw) }
            members[index].0 = String(decoding: name, as: UTF8.self)
        case 6:  // a tensor repeated under another name
            members.append((members[index].0 + String(raw % 10), members[index].1))
        case 7, 8, 9:  // a metadata value: its JSON edited, or replaced by raw text
            editMetadata(&members, target: target, raw: raw, how: what % 12 - 7)
        case 10:  // the header length, off by a little
            lengthDelta = Int64(small)
        default:  // the buffer cut or extended
            if raw & 1 == 0 {
                buffer.removeLast(min(buffer.count, Int(raw >> 1) % 64))
            } else {
                buffer += [UInt8](repeating: 0, count: Int(raw >> 1) % 64)
            }
        }
    }
    var header = Array(JSON.object(members).rendered().utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    let length = UInt64(bitPattern: Int64(header.count) &+ lengthDelta)
    var file = ByteWriter()
    file.u64(length)
    return file.bytes + header + buffer
}

func editTensor(_ value: inout JSON, _ edit: (inout [(String, JSON)]) -> Void) {
    guard case .object(var info) = value else { return }
    edit(&info)
    value = .object(info)
}

func editArray(_ info: inout [(String, JSON)], _ key: String, at position: Int, _ edit: (JSON) -> JSON) {
    info = info.map { member in
        guard member.0 == key, case .array(var values) = member.1, !values.isEmpty else { return member }
        let index = position % values.count
        values[index] = edit(values[index])
        return (key, .array(values))
    }
}

/// Edits one charrnn metadata value: a number in its JSON nudged (how 0), an
/// element removed (how 1), or the text replaced by a few raw bytes (how 2).
func editMetadata(_ members: inout [(String, JSON)], target: Int, raw: UInt64, how: UInt8) {
    guard let index = members.firstIndex(where: { $0.0 == "__metadata__" }), case .object(var pairs) = members[index].1,
        !pairs.isEmpty
    else { return }
    let key = target % pairs.count
    guard let text = pairs[key].1.stringValue else { return }
    var replaced = text
    switch how {
    case 0, 1:
        if var json = try? JSON(parsing: Array(text.utf8)) {
            json = nudged(json, path: raw, remove: how == 1)
            replaced = json.rendered()
        } else {
            // "128,128", "lstm", "1.2": a character changed.
            var bytes = Array(text.utf8)
            if !bytes.isEmpty { bytes[Int(raw >> 8) % bytes.count] = UInt8(truncatingIfNeeded: raw) }
            replaced = String(decoding: bytes, as: UTF8.self)
        }
    default:
        replaced = String(decoding: (0..<Int(raw % 7)).map { UInt8(truncatingIfNeeded: raw >> (8 * UInt64($0 + 1))) }, as: UTF8.self)
    }
    pairs[key] = (pairs[key].0, .string(replaced))
    members[index] = (members[index].0, .object(pairs))
}

/// `json` with one element, picked by `path`'s bits, changed: a number by a small
/// amount, or to one of the extremes; an element removed when `remove`.
func nudged(_ json: JSON, path: UInt64, remove: Bool) -> JSON {
    switch json {
    case .array(var values) where !values.isEmpty:
        let index = Int(path % UInt64(values.count))
        if remove, path & 0x100 != 0 { values.remove(at: index); return .array(values) }
        values[index] = nudged(values[index], path: path >> 9, remove: remove)
        return .array(values)
    case .object(var members) where !members.isEmpty:
        let index = Int(path % UInt64(members.count))
        if remove, path & 0x100 != 0 { members.remove(at: index); return .object(members) }
        members[index].1 = nudged(members[index].1, path: path >> 9, remove: remove)
        return .object(members)
    case .int(let value):
        let extremes: [JSON] = [
            .int(0), .int(-1), .uint(UInt64(UInt32.max)), .uint(UInt64(UInt32.max) + 1), .uint(UInt64.max),
            .int(value &+ 1), .int(value &- 1), .double(0.5),
        ]
        return extremes[Int(path % 8)]
    case .uint:
        return [JSON.uint(0), .uint(UInt64.max), .int(-1)][Int(path % 3)]
    case .double:
        return [JSON.double(0), .double(-1), .double(1e308), .string("0x7ff0000000000000"), .string("0x0"), .int(1)][Int(path % 6)]
    case .string(let text):
        return [
            JSON.string(""), .string(text + "="), .string(text + "\n"), .string("0x" + String(repeating: "f", count: 16)),
            .int(0),
        ][Int(path % 5)]
    default:
        return .null
    }
}

/// Seeds for the safetensors modes: each checkpoint FILE converted ("safetensors-NAME"),
/// and each of the values mode's checkpoints with no edit and with one edit of each kind.
func writeSafetensorsSeeds(_ directory: String, files: [(name: String, bytes: [UInt8])]) {
    var seeds: [(String, [UInt8])] = []
    for (name, bytes) in files {
        guard let checkpoint = try? Checkpoint(decoding: bytes) else { continue }
        seeds.append(("safetensors-\(name)", [4] + checkpoint.safetensors().encoded()))
    }
    for index in safetensorsSeeds.indices {
        seeds.append(("stfields-\(index)", [5, UInt8(index)]))
        for what in 0..<12 {
            seeds.append(("stfields-\(index)-\(what)", [5, UInt8(index), UInt8(what), UInt8(what * 3), 1, 0, 0, 0, 0, 0, 0, 0]))
        }
    }
    for (name, seed) in seeds where !writeFile("\(directory)/\(name)", seed) {
        report("charrnn-fuzz-checkpoint: cannot write \(directory)/\(name)\n")
        exit(1)
    }
}

func writeFile(_ path: String, _ bytes: [UInt8]) -> Bool {
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
}
