#!/usr/bin/env python3
"""Read a charrnn checkpoint (format 1.0 or 1.1) and print it, or refuse it.

An independent reader written from formats/checkpoint.md alone, with the
Python standard library only. It checks everything the specification says a
reader must check, then prints:

  --json        (default) the contents as one JSON object: sections, alphabet,
                model config, every tensor's values, optimizer state, training
                settings (with any keys this reader does not know, under
                "unknown_keys"), history and metadata. float32 values are printed in
                their shortest round-trip form; NaN and infinities, which JSON
                cannot hold, are the strings "NaN", "Infinity", "-Infinity".
  --annotate    an annotated hex dump: offset, bytes, meaning, with the
                inflated contents of every compressed section (the worked
                example of checkpoint.md is this output).
  --init-check  whether TENS is bit-for-bit what the initialiser named in MODL
                draws from MODL's seed. Exit status 0 if it is, 2 if not.

A refused file prints one line, "read_checkpoint.py: FILE: problem", on
standard error and exits with status 1.
"""

import argparse
import json
import math
import struct
import sys
import zlib

PROG = "read_checkpoint.py"

# ---------------------------------------------------------------------------
# The format's constants (checkpoint.md, "File layout" and "Limits").

MAGIC = b"\x89CRNN\r\n\x1a"
SUPPORTED_MAJOR = 1
FILE_HEADER_LEN = 16
SECTION_HEADER_LEN = 40
FLAG_ZLIB = 0x1

MAX_SECTIONS = 64
ALPHABET_MIN, ALPHABET_MAX = 2, 65536
LAYERS_MIN, LAYERS_MAX = 1, 64
HIDDEN_MIN, HIDDEN_MAX = 1, 1 << 20
MAX_PARAMETERS = (1 << 31) - 1
MAX_HISTORY = 1_000_000
MAX_META = 1 << 20
DEFLATE_RATIO, DEFLATE_SLACK = 1032, 1024
SEQ_MAX = BATCH_MAX = 1 << 20
HISTORY_RECORD_LEN = 72
TSKV_MAX, SETTINGS_MAX, KEY_MAX = 1 << 16, 256, 64

# Critical sections in their required order; "meta" and "vcur" are the known ancillary ones.
CRITICAL_ORDER = ("ALPH", "MODL", "TENS", "OPTM", "TSET", "TSKV", "HIST", "PART", "END ")
# State vectors a cell carries from one step to the next (h, then c): PART's shapes (checkpoint.md 4.9).
STATE_VECTORS = {"rnn": 1, "lstm": 2, "gru": 1, "mlstm": 2}
PART_HEADER_LEN = 112


def standard_layer(g, h, i):
    return [("Wi", (g * h, i)), ("Wh", (g * h, h)), ("b", (g * h,))]


def mlstm_layer(g, h, i):
    return [("Wi", (g * h, i)), ("Wmx", (h, i)), ("Wh", (g * h, h)), ("Wmh", (h, h)), ("b", (g * h,))]


# Per cell code: name, gate count G, gate blocks in row order, and the tensors
# of one layer of H units and I inputs, in TENS order (checkpoint.md 4.2, 4.3).
CELLS = {1: ("rnn", 1, ["h"], standard_layer),
         2: ("lstm", 4, ["i", "f", "c", "o"], standard_layer),
         3: ("gru", 3, ["r", "z", "n"], standard_layer),
         4: ("mlstm", 4, ["i", "f", "c", "o"], mlstm_layer)}
# Cells whose bias has a forget-gate block (rows H..2H-1) set to 1 by initialiser 1.
FORGET_BIAS_CELLS = ("lstm", "mlstm")
INITIALISERS = {1: "flux-glorot-uniform"}
HISTORY_FLAGS = ("optimizer_reset", "timing_omitted", "settings_changed", "text_changed")


class Refused(Exception):
    """The file breaks the specification; str(self) is the one-line reason."""


def tag_text(tag):
    """A section tag for messages: printable ASCII as is (trailing spaces
    dropped), anything else as hex bytes."""
    if all(0x20 <= b <= 0x7E for b in tag):
        return tag.decode("ascii").rstrip(" ")
    return " ".join("%02X" % b for b in tag)


def is_critical(tag):
    return 0x41 <= tag[0] <= 0x5A          # first byte 'A'..'Z'


# ---------------------------------------------------------------------------
# Model geometry: what MODL implies for TENS (checkpoint.md, "Tensors").

def implied_tensors(cell_code, hidden, n):
    """[(name, shape)] in file order for a config."""
    _, gates, _, layer_tensors = CELLS[cell_code]
    out = []
    inputs = n
    for number, units in enumerate(hidden, start=1):
        for suffix, shape in layer_tensors(gates, units, inputs):
            out.append(("layer%d.%s" % (number, suffix), shape))
        inputs = units
    out.append(("dense.W", (n, hidden[-1])))
    out.append(("dense.b", (n,)))
    return out


def element_count(shape):
    count = 1
    for d in shape:
        count *= d
    return count


def parameter_count(cell_code, hidden, n):
    """The closed formula: sum of G*H*(I+H+1) per layer (plus H*(I+H) for
    mlstm's Wmx and Wmh), plus N*(H_L+1)."""
    name, gates = CELLS[cell_code][:2]
    total, inputs = 0, n
    for units in hidden:
        total += gates * units * (inputs + units + 1)
        if name == "mlstm":
            total += units * (inputs + units)
        inputs = units
    return total + n * (hidden[-1] + 1)


def directory_length(tensors):
    unpadded = 4 + sum(2 + len(name) + 4 * len(shape) for name, shape in tensors)
    return unpadded, -(-unpadded // 4) * 4


# ---------------------------------------------------------------------------
# A cursor over one section's raw bytes that records what it reads, so the
# same pass that validates also produces the annotated dump.

class Fields:
    def __init__(self, data, tag, annotate):
        self.data = data
        self.tag = tag
        self.pos = 0
        self.notes = [] if annotate else None

    def _take(self, size, what):
        if size > len(self.data) - self.pos:
            raise Refused("section %s: too short to hold %s" % (tag_text(self.tag), what))
        start = self.pos
        self.pos += size
        return start

    def note(self, start, size, text):
        if self.notes is not None:
            self.notes.append((start, size, text))

    def scalar(self, fmt, what, show=None):
        size = struct.calcsize("<" + fmt)
        start = self._take(size, what)
        value = struct.unpack_from("<" + fmt, self.data, start)[0]
        if self.notes is not None:
            self.note(start, size, "%s = %s" % (what, show(value) if show else value))
        return value

    def u8(self, what, show=None):
        return self.scalar("B", what, show)

    def u32(self, what, show=None):
        return self.scalar("I", what, show)

    def u64(self, what, show=None):
        return self.scalar("Q", what, show)

    def f64(self, what):
        return self.scalar("d", what, f64_text)

    def blob(self, size, what, show=None):
        start = self._take(size, what)
        value = self.data[start:start + size]
        if self.notes is not None:
            self.note(start, size, "%s = %s" % (what, show(value) if show else value))
        return value

    def f32_array(self, count, label):
        """count little-endian float32 values; label(i) names element i."""
        start = self._take(4 * count, "%d float32 values" % count)
        values = struct.unpack_from("<%df" % count, self.data, start)
        if self.notes is not None:
            for i, v in enumerate(values):
                self.notes.append((start + 4 * i, 4, "%s = %s" % (label(i), f32_text(v))))
        return values

    def at_end(self):
        return self.pos == len(self.data)


def f32_text(x):
    """Shortest decimal that reads back as the same float32."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    for digits in range(1, 10):
        text = "%.*g" % (digits, x)
        try:
            if struct.unpack("<f", struct.pack("<f", float(text)))[0] == x:
                return text
        except OverflowError:
            continue
    return repr(x)


def f64_text(x):
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(x)


def symbol_text(cp):
    names = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v", 0x20: "space"}
    if cp in names:
        return "U+%04X %s" % (cp, names[cp])
    if 0x21 <= cp <= 0x7E or (0xA1 <= cp <= 0x10FFFF and chr(cp).isprintable()):
        return "U+%04X '%s'" % (cp, chr(cp))
    return "U+%04X" % cp


# ---------------------------------------------------------------------------
# Section contents. Each parser gets the raw (inflated, CRC-checked) bytes and
# the checkpoint so far, checks the contents and stores what it found.

def parse_alph(f, ck):
    count = f.u32("symbol count")
    stop = f.u32("stop symbol index")
    if not ALPHABET_MIN <= count <= ALPHABET_MAX:
        raise Refused("section ALPH: an alphabet of %d symbols is outside %d...%d"
                      % (count, ALPHABET_MIN, ALPHABET_MAX))
    if len(f.data) != 8 + 4 * count:
        raise Refused("section ALPH holds %d bytes where %d are expected" % (len(f.data), 8 + 4 * count))
    if stop >= count:
        raise Refused("section ALPH: stop symbol index %d is outside the alphabet" % stop)
    symbols, seen = [], set()
    for i in range(count):
        cp = f.u32("symbol %d" % i, symbol_text)
        if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
            raise Refused("section ALPH: symbol %d (0x%x) is not a Unicode scalar value" % (i, cp))
        if cp in seen:
            raise Refused("section ALPH: symbol %d (U+%04X) appears twice" % (i, cp))
        seen.add(cp)
        symbols.append(cp)
    if f.notes is not None:
        f.notes[1] = f.notes[1][:2] + ("stop symbol index = %d (%s)" % (stop, symbol_text(symbols[stop])),)
    ck["alphabet"] = {"size": count, "stop_index": stop, "code_points": symbols,
                      "symbols": [chr(cp) for cp in symbols]}


def parse_modl(f, ck):
    cell = f.u32("cell kind", lambda c: "%d (%s)" % (c, CELLS[c][0] if c in CELLS else "unknown"))
    init = f.u32("initialiser", lambda c: "%d (%s)" % (c, INITIALISERS.get(c, "unknown")))
    seed = f.u64("seed")
    n = f.u32("alphabet size N")
    layers = f.u32("layer count L")
    if cell not in CELLS:
        raise Refused("section MODL: unknown cell kind code %d (known: %s)"
                      % (cell, ", ".join("%d %s" % (code, CELLS[code][0]) for code in sorted(CELLS))))
    if init not in INITIALISERS:
        raise Refused("section MODL: unknown initialiser code %d (known: 1 flux-glorot-uniform)" % init)
    if n != ck["alphabet"]["size"]:
        raise Refused("section MODL: the model is for %d symbols but the alphabet has %d"
                      % (n, ck["alphabet"]["size"]))
    if not LAYERS_MIN <= layers <= LAYERS_MAX:
        raise Refused("section MODL: %d layers is outside %d...%d" % (layers, LAYERS_MIN, LAYERS_MAX))
    if len(f.data) != 24 + 4 * layers:
        raise Refused("section MODL holds %d bytes where %d are expected" % (len(f.data), 24 + 4 * layers))
    hidden = [f.u32("layer %d units H%d" % (i + 1, i + 1)) for i in range(layers)]
    for i, units in enumerate(hidden):
        if not HIDDEN_MIN <= units <= HIDDEN_MAX:
            raise Refused("section MODL: layer %d has %d units, outside %d...%d"
                          % (i + 1, units, HIDDEN_MIN, HIDDEN_MAX))
    total = parameter_count(cell, hidden, n)
    if total > MAX_PARAMETERS:
        raise Refused("section MODL: the model has %d parameters, more than %d" % (total, MAX_PARAMETERS))
    tensors = implied_tensors(cell, hidden, n)
    assert sum(element_count(s) for _, s in tensors) == total
    ck["model"] = {"cell": CELLS[cell][0], "cell_code": cell, "gate_order": CELLS[cell][2],
                   "initialiser": INITIALISERS[init], "initialiser_code": init, "seed": seed,
                   "alphabet_size": n, "hidden": hidden, "parameters": total}
    ck["_layout"] = tensors


def modl_implied_tens_length(ck):
    unpadded, padded = directory_length(ck["_layout"])
    return padded + 4 * ck["model"]["parameters"]


def element_label(prefix, tensors):
    """label(i) for the flat parameter index i: 'layer1.Wi[2,0]'."""
    bounds, start = [], 0
    for name, shape in tensors:
        bounds.append((start, name, shape))
        start += element_count(shape)

    def label(i):
        for begin, name, shape in reversed(bounds):
            if i >= begin:
                k = i - begin
                index = "%d,%d" % divmod(k, shape[1]) if len(shape) == 2 else "%d" % k
                return "%s%s[%s]" % (prefix, name, index)
    return label


def parse_tens(f, ck):
    expected = ck["_layout"]
    count = f.u32("tensor count")
    if count != len(expected):
        raise Refused("section TENS: %d tensors where the model has %d" % (count, len(expected)))
    for want_name, want_shape in expected:
        length = f.u8("name length")
        name = f.blob(length, "name", lambda b: '"%s"' % b.decode("utf-8", "replace"))
        rank = f.u8("rank")
        if rank not in (1, 2):
            raise Refused("section TENS: tensor %s has rank %d; ranks are 1 or 2"
                          % (name.decode("utf-8", "replace"), rank))
        shape = tuple(f.u32("dimension %d" % d) for d in range(rank))
        if name != want_name.encode() or shape != want_shape:
            raise Refused("section TENS: tensor %s %s where the model needs %s %s"
                          % (name.decode("utf-8", "replace"), list(shape), want_name, list(want_shape)))
    while f.pos % 4:
        if f.u8("padding") != 0:
            raise Refused("section TENS: padding byte at %d is not 0" % (f.pos - 1))
    values = f.f32_array(ck["model"]["parameters"], element_label("", expected))
    if not f.at_end():
        raise Refused("section TENS holds %d bytes where %d are expected" % (len(f.data), f.pos))
    ck["_parameters"] = values
    ck["_tens_float_bytes"] = f.data[len(f.data) - 4 * len(values):]


def parse_optm_header(f, ck):
    """OPTM's first 32 bytes: the step and ADAM's constants, checked."""
    ck["optimizer"] = {"kind": "adam", "step": f.u64("ADAM step t")}
    for key in ("beta1", "beta2", "epsilon"):
        ck["optimizer"][key] = f.f64(key)
    for key in ("beta1", "beta2"):
        value = ck["optimizer"][key]
        if not 0 <= value < 1:
            raise Refused("section OPTM: %s = %s is outside [0, 1)" % (key, f64_text(value)))
    eps = ck["optimizer"]["epsilon"]
    if not (eps > 0 and math.isfinite(eps)):
        raise Refused("section OPTM: epsilon = %s must be a positive number" % f64_text(eps))
    ck["_optimizer_step"] = ck["optimizer"]["step"]


def parse_optm(f, ck):
    parse_optm_header(f, ck)
    count = ck["model"]["parameters"]
    ck["_m"] = f.f32_array(count, element_label("m ", ck["_layout"]))
    ck["_v"] = f.f32_array(count, element_label("v ", ck["_layout"]))
    if not f.at_end():
        raise Refused("section OPTM holds %d bytes where %d are expected" % (len(f.data), f.pos))


# Training settings (checkpoint.md 4.5). The known keys, in the order they are
# checked: type code, the range check with its message, and the value a file
# without the key means (None: required).
U64, F64, TEXT = 1, 2, 3
TYPE_NAMES = {U64: "u64", F64: "f64", TEXT: "text"}
KNOWN_SETTINGS = [
    ("sequence_length", U64, lambda v: 1 <= v <= SEQ_MAX, "is outside 1...%d" % SEQ_MAX, None),
    ("batch_rows", U64, lambda v: 1 <= v <= BATCH_MAX, "is outside 1...%d" % BATCH_MAX, None),
    ("validation_fraction", F64, lambda v: 0 <= v < 1, "is outside [0, 1)", None),
    ("clip_norm", F64, lambda v: v >= 0 and math.isfinite(v), "is not a finite number >= 0", None),
    ("dropout", F64, lambda v: 0 <= v < 1, "is outside [0, 1)", 0.0),  # format 1.2
    ("weight_decay", F64, lambda v: 0 <= v < 1, "is outside [0, 1)", 0.0),  # format 1.3
    ("weight_drop", F64, lambda v: 0 <= v < 1, "is outside [0, 1)", 0.0),  # format 1.5
    ("locked_dropout", F64, lambda v: 0 <= v < 1, "is outside [0, 1)", 0.0),  # format 1.5
    ("input_dropout", F64, lambda v: 0 <= v < 1, "is outside [0, 1)", 0.0),  # format 1.5
]


def value_text(code, value):
    return f64_text(value) if code == F64 else json.dumps(value, ensure_ascii=False) if code == TEXT else str(value)


def settings_from(entries, tag, ck):
    """Checks the known keys among entries {key: (type code, value)} and keeps the others."""
    if ck["training"] is not None:
        raise Refused("section %s: the file already holds training settings in TSET; "
                      "a file has TSET or TSKV, not both" % tag)
    training = {"section": tag}
    for key, code, valid, limits, absent in KNOWN_SETTINGS:
        if key not in entries:
            if absent is None:
                raise Refused("section %s: required key '%s' is missing" % (tag, key))
            training[key] = absent
            continue
        have, value = entries.pop(key)
        if have != code:
            raise Refused("section %s: key '%s' has type %s where %s is expected"
                          % (tag, key, TYPE_NAMES[have], TYPE_NAMES[code]))
        if not valid(value):
            raise Refused("section %s: %s %s %s" % (tag, key, value_text(code, value), limits))
        training[key] = value
    training["unknown_keys"] = [{"key": key, "type": TYPE_NAMES[code], "value": value}
                                for key, (code, value) in entries.items()]
    ck["training"] = training


def parse_tset(f, ck):
    """Format 1.0's fixed record."""
    entries = {"sequence_length": (U64, f.u32("sequence length")),
               "batch_rows": (U64, f.u32("batch rows")),
               "validation_fraction": (F64, f.f64("validation fraction")),
               "clip_norm": (F64, f.f64("clip norm (0 = off)"))}
    settings_from(entries, "TSET", ck)


def valid_key(key):
    return (1 <= len(key) <= KEY_MAX and 0x61 <= key[0] <= 0x7A
            and all(0x61 <= b <= 0x7A or 0x30 <= b <= 0x39 or b == 0x5F for b in key))


def parse_tskv(f, ck):
    """Format 1.1's typed key/value entries, sorted by key bytes."""
    count = f.u32("entry count K")
    if count > SETTINGS_MAX:
        raise Refused("section TSKV: %d entries is more than the %d allowed" % (count, SETTINGS_MAX))
    entries, previous = {}, None
    known = {key for key, _, _, _, _ in KNOWN_SETTINGS}
    for i in range(count):
        p = "entry %d: " % i
        length = f.u8(p + "key length")
        key = f.blob(length, p + "key", lambda b: repr(b.decode("latin-1")))
        if not valid_key(key):
            raise Refused("section TSKV: entry %d has the key %r; a key is 1 to %d bytes of a-z, 0-9 and _, "
                          "starting with a letter" % (i, key.decode("latin-1"), KEY_MAX))
        name = key.decode("ascii")
        if previous is not None and not previous < key:       # bytes compare as unsigned bytes
            raise Refused("section TSKV: key '%s' %s" % (name, "appears twice" if previous == key
                          else "comes after '%s'; keys are in byte order" % previous.decode("ascii")))
        previous = key
        code = f.u8(p + "type", lambda c: "%d (%s)" % (c, TYPE_NAMES.get(c, "unknown")))
        if code not in TYPE_NAMES:
            raise Refused("section TSKV: key '%s' has the unknown type code %d (known: %s)"
                          % (name, code, ", ".join("%d %s" % item for item in sorted(TYPE_NAMES.items()))))
        label = p + name + ("" if name in known else " (a key this reader does not know: kept, not trained on)")
        if code == U64:
            value = f.u64(label)
        elif code == F64:
            value = f.f64(label)
        else:
            size = f.u32(p + "text length")
            raw = f.blob(size, label, lambda b: json.dumps(b.decode("utf-8", "replace"), ensure_ascii=False))
            try:
                value = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused("section TSKV: the text of '%s' is not valid UTF-8" % name)
        entries[name] = (code, value)
    if not f.at_end():
        raise Refused("section TSKV holds %d bytes where %d are expected" % (len(f.data), f.pos))
    settings_from(entries, "TSKV", ck)


def flag_names(bits):
    names = [HISTORY_FLAGS[b] for b in range(len(HISTORY_FLAGS)) if bits >> b & 1]
    unknown = bits & ~((1 << len(HISTORY_FLAGS)) - 1)
    return names + (["0x%X (reserved bits, ignored)" % unknown] if unknown else [])


def parse_hist(f, ck):
    count = f.u32("record count")
    if count > MAX_HISTORY or len(f.data) != 4 + HISTORY_RECORD_LEN * count:
        raise Refused("section HIST holds %d bytes where %d are expected"
                      % (len(f.data), 4 + HISTORY_RECORD_LEN * count))
    records = []
    for r in range(count):
        p = "record %d: " % r
        rec = {}
        rec["epoch"] = f.u32(p + "epoch")
        bits = f.u32(p + "flags", lambda b: "0x%X %s" % (b, flag_names(b)))
        rec["flags"] = bits
        rec["flag_names"] = flag_names(bits)
        rec["learning_rate"] = f.f64(p + "learning rate")
        rec["train_loss_nats"] = f.f64(p + "train loss (nats/char)")
        rec["validation_loss_nats"] = f.f64(p + "validation loss (nats/char; NaN = none)")
        rec["chars_per_second"] = f.f64(p + "chars per second")
        rec["seconds"] = f.f64(p + "seconds")
        rec["text_hash"] = "%016x" % f.u64(p + "text hash (FNV-1a 64)", lambda h: "0x%016x" % h)
        rec["text_length"] = f.u64(p + "text length (scalars)")
        rec["optimizer_step"] = f.u64(p + "optimizer step after the epoch")
        records.append(rec)
    ck["history"] = records


def part_max_length(ck):
    """The largest PART the model allows: BATCH_MAX rows of every layer's state vectors."""
    if ck["model"] is None:
        raise Refused("required section TENS is missing (PART needs it)")
    vectors = STATE_VECTORS[ck["model"]["cell"]]
    hidden = ck["model"]["hidden"]
    return PART_HEADER_LEN + 8 * len(hidden) + BATCH_MAX * sum(4 * vectors * h for h in hidden)


def parse_part(f, ck):
    """A partial epoch (format 1.4, checkpoint.md 4.9): where the pass stopped, its sums, the carried state."""
    model = ck["model"]
    if len(f.data) < PART_HEADER_LEN:
        raise Refused("section PART holds %d bytes where at least %d are expected" % (len(f.data), PART_HEADER_LEN))
    part = {}
    part["epoch"] = f.u32("epoch being trained")
    bits = f.u32("flags of its record so far", lambda b: "0x%X %s" % (b, flag_names(b)))
    part["flags"] = bits
    part["flag_names"] = flag_names(bits)
    part["sequences_done"] = f.u64("sequences done")
    part["sequences"] = f.u64("sequences in the pass")
    part["learning_rate"] = f.f64("learning rate")
    part["text_hash"] = "%016x" % f.u64("text hash (FNV-1a 64)", lambda h: "0x%016x" % h)
    part["text_length"] = f.u64("text length (scalars)")
    part["loss_sum_nats"] = f.f64("loss sum so far (nats)")
    part["real_targets"] = f.u64("real targets so far")
    part["positions"] = f.u64("batch positions so far")
    part["clipped"] = f.u64("clipped sequences so far")
    part["seed_loss_sum"] = f.f64("sum of the sequences' seed losses")
    part["seconds"] = f.f64("seconds so far")
    part["start_step"] = f.u64("ADAM's step at the epoch's start")
    rows = f.u32("batch rows R")
    layers = f.u32("layer count L")
    part["rows"] = rows
    if bits >> len(HISTORY_FLAGS):
        raise Refused("section PART: unknown flag bits 0x%X" % (bits >> len(HISTORY_FLAGS) << len(HISTORY_FLAGS)))
    if not 1 <= part["epoch"]:
        raise Refused("section PART: epoch 0; a partial epoch is epoch 1 or later")
    if not 1 <= part["sequences_done"] < part["sequences"]:
        raise Refused("section PART: it has done %d of %d sequences, where a partial epoch has done at least 1 and fewer than all"
                      % (part["sequences_done"], part["sequences"]))
    lr = part["learning_rate"]
    if not (lr > 0 and math.isfinite(lr)):
        raise Refused("section PART: learning rate %r is not a positive number" % lr)
    for key in ("loss_sum_nats", "seed_loss_sum", "seconds"):
        if not (part[key] >= 0 and math.isfinite(part[key])):
            raise Refused("section PART: %s %r is not a finite number >= 0" % (key, part[key]))
    if part["clipped"] > part["sequences_done"]:
        raise Refused("section PART: %d clipped sequences of %d done" % (part["clipped"], part["sequences_done"]))
    if layers != len(model["hidden"]):
        raise Refused("section PART: it holds the state of %d layers; the model has %d" % (layers, len(model["hidden"])))
    if not 1 <= rows <= BATCH_MAX:
        raise Refused("section PART: it holds the state of %d batch rows, outside 1...%d" % (rows, BATCH_MAX))
    vectors = STATE_VECTORS[model["cell"]]
    if len(f.data) < PART_HEADER_LEN + 8 * layers:
        raise Refused("section PART holds %d bytes where at least %d are expected" % (len(f.data), PART_HEADER_LEN + 8 * layers))
    for i, units in enumerate(model["hidden"]):
        k = f.u32("layer %d: state vectors K" % (i + 1))
        h = f.u32("layer %d: units H" % (i + 1))
        if k != vectors or h != units:
            raise Refused("section PART: layer %d's state is %d vectors of %d units; the model's %s layer carries %d of %d"
                          % (i + 1, k, h, model["cell"], vectors, units))
    expected = PART_HEADER_LEN + 8 * layers + sum(4 * rows * vectors * h for h in model["hidden"])
    if len(f.data) != expected:
        raise Refused("section PART holds %d bytes where %d are expected" % (len(f.data), expected))
    state = []
    for i, units in enumerate(model["hidden"]):
        layer = []
        for k in range(vectors):
            values = f.f32_array(rows * units, lambda j, i=i, k=k, units=units:
                                 "layer %d state %s [row %d, unit %d]" % (i + 1, "hc"[k], j // units, j % units))
            bad = next((v for v in values if not math.isfinite(v)), None)
            if bad is not None:
                raise Refused("section PART: state %s of layer %d holds %r; a carried state is finite" % ("hc"[k], i + 1, bad))
            layer.append([values[r * units:(r + 1) * units] for r in range(rows)])
        state.append(layer)
    part["state"] = state
    ck["partial_epoch"] = part


MAX_VCUR_POINTS = 1000000
VCUR_POINT_LEN = 40


def parse_vcur(f, ck):
    """Ancillary (format 1.6, checkpoint.md 4.10): validation losses measured inside
    epochs. A vcur that breaks its rules is ignored, with the reason, never refused;
    whether its points fit HIST and PART is checked once END is read."""
    ck["validation_points"] = []
    ck["validation_points_ignored"] = None
    data = f.data
    if len(data) < 4:
        ck["validation_points_ignored"] = "it is shorter than its 4-byte count"
        return
    count = f.u32("P (points)")
    if count > MAX_VCUR_POINTS:
        ck["validation_points_ignored"] = "it counts %d points, more than the %d allowed" % (count, MAX_VCUR_POINTS)
        return
    if len(data) != 4 + VCUR_POINT_LEN * count:
        ck["validation_points_ignored"] = "it is %d bytes long; %d points take %d" % (len(data), count, 4 + VCUR_POINT_LEN * count)
        return
    points = []
    for i in range(count):
        epoch = f.u32("point %d: epoch" % (i + 1))
        f.u32("point %d: reserved" % (i + 1))
        done = f.u64("point %d: sequences_done" % (i + 1))
        sequences = f.u64("point %d: sequences" % (i + 1))
        train = f.f64("point %d: train_loss" % (i + 1))
        val = f.f64("point %d: validation_loss" % (i + 1))
        name = "point %d" % (i + 1)
        problem = None
        if epoch < 1:
            problem = "%s's epoch %d is outside 1...%d" % (name, epoch, 2 ** 32 - 1)
        elif not (1 <= done < sequences):
            problem = ("%s lies after %d of %d sequences, where a point inside an epoch lies after at least 1 and fewer than all"
                       % (name, done, sequences))
        elif not all(math.isfinite(x) and x >= 0 for x in (train, val)):
            problem = "%s's losses are not finite numbers >= 0" % name
        elif points and (points[-1]["epoch"], points[-1]["sequences_done"]) >= (epoch, done):
            problem = "%s (epoch %d, after %d sequences) does not come after the one before it" % (name, epoch, done)
        if problem:
            ck["validation_points_ignored"] = problem
            return
        points.append({"epoch": epoch, "sequences_done": done, "sequences": sequences,
                       "at": epoch - 1 + done / sequences, "train_loss": train, "validation_loss": val})
    ck["validation_points"] = points


def check_validation_points(ck):
    """vcur's points lie in an epoch of HIST, or in PART's epoch no later than its stop (4.10); else ignored."""
    points = ck["validation_points"]
    if not points:
        return
    last = points[-1]
    finished = ck["history"][-1]["epoch"] if ck["history"] else 0
    part = ck["partial_epoch"]
    problem = None
    if part is not None and last["epoch"] == part["epoch"]:
        if last["sequences_done"] > part["sequences_done"] or last["sequences"] != part["sequences"]:
            problem = ("its last point lies after %d of %d sequences of epoch %d, which PART says stopped after %d of %d"
                       % (last["sequences_done"], last["sequences"], last["epoch"], part["sequences_done"], part["sequences"]))
    elif last["epoch"] > finished:
        problem = "its last point lies in epoch %d, and the history ends at epoch %d" % (last["epoch"], finished)
    if problem:
        ck["validation_points"] = []
        ck["validation_points_ignored"] = problem


def parse_meta(f, ck):
    """Ancillary: nothing in it can make the file invalid."""
    pairs = []
    start = 0
    data = f.data
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        line = data[start:end]
        text = line.rstrip(b"\n").decode("utf-8", "replace")
        if "=" in text:
            key, value = text.split("=", 1)
            pairs.append([key, value])
            f.note(start, len(line), "line %r: key %r, value %r" % (text, key, value))
        else:
            f.note(start, len(line), "line %r: no '=', ignored" % text)
        start = end
    ck["metadata"] = pairs


# Per known section: how its raw length is bounded before anything is inflated
# ("exact" or "max"), and its parser.
SECTIONS = {
    "ALPH": ("max", lambda ck: 8 + 4 * ALPHABET_MAX, parse_alph),
    "MODL": ("max", lambda ck: 24 + 4 * LAYERS_MAX, parse_modl),
    "TENS": ("exact", modl_implied_tens_length, parse_tens),
    "OPTM": ("exact", lambda ck: 32 + 8 * ck["model"]["parameters"], parse_optm),
    "TSET": ("exact", lambda ck: 24, parse_tset),
    "TSKV": ("max", lambda ck: TSKV_MAX, parse_tskv),
    "HIST": ("max", lambda ck: 4 + HISTORY_RECORD_LEN * MAX_HISTORY, parse_hist),
    "PART": ("max", part_max_length, parse_part),
    "vcur": ("max", lambda ck: 4 + VCUR_POINT_LEN * MAX_VCUR_POINTS, parse_vcur),
    "meta": ("max", lambda ck: MAX_META, parse_meta),
    "END ": ("exact", lambda ck: 0, None),
}


# ---------------------------------------------------------------------------
# The file: header, then sections up to END.

def inflate_exactly(stored, raw_len, name):
    engine = zlib.decompressobj(wbits=15)
    try:
        out = engine.decompress(stored, raw_len + 1)
    except zlib.error as error:
        raise Refused("section %s does not decompress: %s" % (name, error))
    if len(out) > raw_len:
        raise Refused("section %s does not decompress: it inflates to more than the %d bytes recorded"
                      % (name, raw_len))
    if not engine.eof:
        raise Refused("section %s does not decompress: the zlib stream ends early" % name)
    if engine.unused_data:
        raise Refused("section %s does not decompress: %d bytes after the end of the zlib stream"
                      % (name, len(engine.unused_data)))
    if len(out) != raw_len:
        raise Refused("section %s does not decompress: it inflates to %d bytes, %d recorded"
                      % (name, len(out), raw_len))
    return out


def read_checkpoint(data, annotate=False, skip_optimizer=False):
    """Validates data; returns the checkpoint as a dict (with the annotation
    rows under "_dump" when asked)."""
    ck = {"alphabet": None, "model": None, "optimizer": None, "training": None,
          "history": [], "partial_epoch": None, "validation_points": [],
          "validation_points_ignored": None, "metadata": [], "sections": [], "ignored_sections": []}
    dump = []

    # File header.
    if not data:
        raise Refused("empty file, not a checkpoint")
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        raise Refused("truncated: the file ends at byte %d inside the magic" % len(data))
    if data[:len(MAGIC)] != MAGIC:
        text = all(b in (9, 10, 13) or 0x20 <= b <= 0x7E for b in data[:64])
        raise Refused("not a charrnn checkpoint (starts with %s, expected 89 43 52 4E 4E 0D 0A 1A)%s"
                      % (" ".join("%02X" % b for b in data[:8]),
                         "; it looks like text: charrnn-vocab makes a checkpoint from text" if text else ""))
    if len(data) < FILE_HEADER_LEN:
        raise Refused("truncated: the file ends at byte %d inside the file header" % len(data))
    major, minor, header_crc = struct.unpack_from("<HHI", data, 8)
    if major != SUPPORTED_MAJOR:
        raise Refused("checkpoint format %d.%d is not supported (this reader reads %d.x)"
                      % (major, minor, SUPPORTED_MAJOR))
    if zlib.crc32(data[:12]) != header_crc:
        raise Refused("corrupt file header (header CRC-32 mismatch)")
    ck["format_version"] = "%d.%d" % (major, minor)
    dump.append(("file header, 16 bytes", [
        (0, 8, 'magic "\\x89CRNN\\r\\n\\x1a"'),
        (8, 2, "major version = %d" % major),
        (10, 2, "minor version = %d" % minor),
        (12, 4, "CRC-32 of bytes 0..11 = 0x%08X" % header_crc)], None))

    pos = FILE_HEADER_LEN
    seen_critical = []          # critical tags so far, in order
    count = 0
    while True:
        count += 1
        if count > MAX_SECTIONS:
            raise Refused("more than %d sections" % MAX_SECTIONS)
        left = len(data) - pos
        if left == 0:
            raise Refused("truncated: the END section is missing")
        if left < SECTION_HEADER_LEN:
            raise Refused("truncated: the file ends at byte %d inside the section header at byte %d"
                          % (len(data), pos))
        (tag, flags, stored_len, raw_len, stored_crc, raw_crc, reserved,
         hcrc) = struct.unpack_from("<4sIQQIIII", data, pos)
        name = tag_text(tag)
        # Step 2.3: the header's own CRC, before any of its fields is trusted. 2.4: its fields.
        if zlib.crc32(data[pos:pos + 36]) != hcrc:
            raise Refused("corrupt section header at byte %d (header CRC-32 mismatch)" % pos)
        if reserved != 0:
            raise Refused("section %s: reserved header field is %d, must be 0" % (name, reserved))
        if flags & ~FLAG_ZLIB:
            raise Refused("section %s: unknown flag bits 0x%X are set" % (name, flags & ~FLAG_ZLIB))
        compressed = bool(flags & FLAG_ZLIB)
        payload_at = pos + SECTION_HEADER_LEN
        # Step 2.5: lengths against the bytes present and what deflate can do.
        if stored_len > len(data) - payload_at:
            raise Refused("truncated: section %s needs %d bytes from byte %d, but the file ends at byte %d"
                          % (name, stored_len, payload_at, len(data)))
        if not compressed and raw_len != stored_len:
            raise Refused("section %s is stored uncompressed in %d bytes but claims %d bytes of content"
                          % (name, stored_len, raw_len))
        if compressed and raw_len > DEFLATE_RATIO * stored_len + DEFLATE_SLACK:
            raise Refused("section %s claims %d bytes from %d compressed bytes, impossible for deflate"
                          % (name, raw_len, stored_len))
        stored = data[payload_at:payload_at + stored_len]
        record = {"tag": tag.decode("latin-1"), "offset": pos, "flags": flags,
                  "compressed": compressed, "stored_length": stored_len, "raw_length": raw_len,
                  "stored_crc32": "%08x" % stored_crc, "raw_crc32": "%08x" % raw_crc}
        header_rows = [
            (pos, 4, "tag %r (%s)" % (tag.decode("latin-1"), "critical" if is_critical(tag) else "ancillary")),
            (pos + 4, 4, "flags = %d (%s)" % (flags, "zlib" if compressed else "stored as is")),
            (pos + 8, 8, "stored length = %d" % stored_len),
            (pos + 16, 8, "raw length = %d" % raw_len),
            (pos + 24, 4, "CRC-32 of the stored bytes = 0x%08X" % stored_crc),
            (pos + 28, 4, "CRC-32 of the raw bytes = 0x%08X" % raw_crc),
            (pos + 32, 4, "reserved = 0"),
            (pos + 36, 4, "CRC-32 of header bytes 0..35 = 0x%08X" % hcrc)]
        known = tag.decode("latin-1") if tag.decode("latin-1") in SECTIONS else None
        title = "section %d: '%s' (%s%s), header at 0x%04X = %d; payload %s" % (
            count, tag.decode("latin-1"), "critical" if is_critical(tag) else "ancillary",
            "" if known else ", unknown", pos, pos,
            ("%d bytes of zlib inflating to %d" % (stored_len, raw_len)) if compressed
            else "none" if stored_len == 0 else "%d bytes stored as is" % stored_len)

        # Step 2.6: tag and place in the file.
        if known is None and is_critical(tag):
            raise Refused("unknown critical section '%s' at byte %d" % (name, pos))
        if not seen_critical and known != "ALPH":
            raise Refused("section %s comes before ALPH, which must be the first section" % name)
        if known is not None and is_critical(tag):
            rank = CRITICAL_ORDER.index(known)
            if seen_critical and CRITICAL_ORDER.index(seen_critical[-1]) >= rank:
                raise Refused("section %s is out of place after %s" % (name, tag_text(seen_critical[-1].encode())))
            if known == "TENS" and ck["model"] is None:
                raise Refused("required section MODL is missing (TENS needs it)")
            if known == "OPTM" and "_parameters" not in ck:
                raise Refused("required section TENS is missing (OPTM needs it)")
            if ck["model"] is not None and "_parameters" not in ck and rank > CRITICAL_ORDER.index("TENS"):
                raise Refused("required section TENS is missing (MODL needs it)")
            seen_critical.append(known)

        # Step 2.7: raw length against the section's limit or exact size.
        skip = known is None or (known == "OPTM" and skip_optimizer)
        if known is not None:
            kind, size_of, parser = SECTIONS[known]
            bound = size_of(ck)
            if kind == "exact" and raw_len != bound:
                raise Refused("section %s holds %d bytes where %d are expected" % (name, raw_len, bound))
            if kind == "max" and raw_len > bound and known == "vcur":
                # Ancillary: too long is ignored, not refused (4.10); checked up to its stored CRC.
                ck["validation_points"] = []
                ck["validation_points_ignored"] = "it inflates to %d bytes, more than the %d of %d points" % (
                    raw_len, bound, MAX_VCUR_POINTS)
                skip = True
            elif kind == "max" and raw_len > bound:
                raise Refused("section %s claims %d bytes, more than its limit of %d" % (name, raw_len, bound))
        # Step 2.8: the stored bytes' CRC, before zlib sees them (also for skipped sections).
        if zlib.crc32(stored) != stored_crc:
            raise Refused("section %s fails its CRC-32 check (stored bytes: recorded 0x%08X, computed 0x%08X)"
                          % (name, stored_crc, zlib.crc32(stored)))
        pos = payload_at + stored_len
        ck["sections"].append(record)
        if skip:
            if known is None or known == "vcur":
                ck["ignored_sections"].append(record["tag"])
            else:
                # OPTM's moments are not kept, but the section is checked as a full read
                # checks it (its length and raw CRC too: a file is valid or not whatever
                # the tool, 7), and its first 32 bytes are read: the step must agree with HIST (3.1).
                head = zlib.decompressobj().decompress(stored, 32) if compressed else stored[:32]
                if len(head) < 32:
                    raise Refused("section OPTM: too short to hold the step and ADAM's constants")
                parse_optm_header(Fields(head, tag, False), ck)
                raw = inflate_exactly(stored, raw_len, name) if compressed else stored
                if zlib.crc32(raw) != raw_crc:
                    raise Refused("section %s fails its CRC-32 check (raw bytes: recorded 0x%08X, computed 0x%08X)"
                                  % (name, raw_crc, zlib.crc32(raw)))
                ck["optimizer"] = None
            dump.append((title, header_rows, (payload_at, stored, None, None,
                                              "checked, moments not kept" if known == "OPTM" else "skipped, not inflated")))
            continue
        # Steps 2.9 and 2.10: inflate to exactly the recorded length, then the raw bytes' CRC.
        raw = inflate_exactly(stored, raw_len, name) if compressed else stored
        if zlib.crc32(raw) != raw_crc:
            raise Refused("section %s fails its CRC-32 check (raw bytes: recorded 0x%08X, computed 0x%08X)"
                          % (name, raw_crc, zlib.crc32(raw)))
        fields = Fields(raw, tag, annotate)
        if known == "END ":
            if stored_len != 0 or flags != 0:
                raise Refused("section END must be empty and stored as is")
            if pos != len(data):
                raise Refused("%d unexpected bytes after the END section" % (len(data) - pos))
        else:
            parser(fields, ck)      # a repeated meta replaces the earlier one
        dump.append((title, header_rows, (payload_at, stored, raw if compressed else None, fields.notes, None)))
        if known == "END ":
            break

    if ck["model"] is not None and "_parameters" not in ck:
        raise Refused("required section TENS is missing (MODL needs it)")
    check_agreement(ck)
    check_validation_points(ck)
    ck["_dump"] = dump
    return ck


def check_agreement(ck):
    """Sections that must agree (checkpoint.md 3.1)."""
    history = ck["history"]
    if history:
        epochs = "HIST holds %d epoch%s of training" % (len(history), "" if len(history) == 1 else "s")
        if ck["model"] is None:
            raise Refused("the sections disagree: %s, but the file holds no model (MODL) that they trained" % epochs)
        if ck["training"] is None:
            raise Refused("the sections disagree: %s, but the file holds no training settings (TSKV or TSET)" % epochs)
    step = ck.get("_optimizer_step")
    part = ck["partial_epoch"]
    if part is not None:
        # Format 1.4 (checkpoint.md 3.2): the partial epoch continues HIST, with ADAM where its sequences took it.
        where = "PART holds epoch %d stopped after %d of %d sequences" % (part["epoch"], part["sequences_done"], part["sequences"])
        if step is None:
            raise Refused("the sections disagree: %s, but the file holds no optimizer state (OPTM)" % where)
        if ck["training"] is None:
            raise Refused("the sections disagree: %s, but the file holds no training settings (TSKV)" % where)
        expected = (history[-1]["epoch"] if history else 0) + 1
        if part["epoch"] != expected:
            raise Refused("the sections disagree: %s, but the next epoch after HIST is %d" % (where, expected))
        if part["rows"] > ck["training"]["batch_rows"]:
            raise Refused("the sections disagree: %s over %d batch rows, but the settings allow %d (batch_rows)"
                          % (where, part["rows"], ck["training"]["batch_rows"]))
        if part["flags"] & 1 and part["start_step"] != 0:
            raise Refused("the sections disagree: %s after ADAM was reset, but says ADAM started it at step %d"
                          % (where, part["start_step"]))
        if not part["flags"] & 1 and history and part["start_step"] != history[-1]["optimizer_step"]:
            raise Refused("the sections disagree: %s from ADAM's step %d, but the last epoch in HIST (epoch %d) ended at step %d"
                          % (where, part["start_step"], history[-1]["epoch"], history[-1]["optimizer_step"]))
        if not part["start_step"] <= step <= part["start_step"] + part["sequences_done"]:
            raise Refused("the sections disagree: OPTM says ADAM has taken %d steps, but %s from step %d (one step a sequence at most)"
                          % (step, where, part["start_step"]))
        return
    if step is not None:
        steps = "OPTM says ADAM has taken %d step%s" % (step, "" if step == 1 else "s")
        if not history and step != 0:
            raise Refused("the sections disagree: %s, but the file holds no history (HIST) of the epochs that took them" % steps)
        if history and step != history[-1]["optimizer_step"]:
            raise Refused("the sections disagree: %s, but the last epoch in HIST (epoch %d) ended at step %d"
                          % (steps, history[-1]["epoch"], history[-1]["optimizer_step"]))


# ---------------------------------------------------------------------------
# The initialiser (checkpoint.md, "Initial weights").

MASK64 = (1 << 64) - 1


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK64


class Xoshiro256StarStar:
    def __init__(self, seed):
        state = seed
        words = []
        for _ in range(4):       # SplitMix64
            state = (state + 0x9E3779B97F4A7C15) & MASK64
            z = state
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            words.append(z ^ (z >> 31))
        self.s = words

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & MASK64, 7) * 9) & MASK64
        t = (s1 << 17) & MASK64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result


def to_f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def initial_weights(model, tensors):
    """float32 little-endian bytes of the initial parameters."""
    rng = Xoshiro256StarStar(model["seed"])
    out = bytearray()
    for name, shape in tensors:
        count = element_count(shape)
        if name == "dense.b":
            out += struct.pack("<%df" % count, *([0.0] * count))
            continue
        scale = to_f32(math.sqrt(24.0 / sum(shape)))
        # (u - 0.5) and its product with a float32 scale are exact in double,
        # so packing rounds once, as float32 arithmetic would.
        values = [(((rng.next() >> 40) * 2.0 ** -24) - 0.5) * scale for _ in range(count)]
        if model["cell"] in FORGET_BIAS_CELLS and name.startswith("layer") and name.endswith(".b"):
            units = count // 4
            values[units:2 * units] = [1.0] * units
        out += struct.pack("<%df" % count, *values)
    return bytes(out)


# ---------------------------------------------------------------------------
# Output.

class F32(float):
    """A float that came from float32 storage: printed in float32 precision."""


def reshape(values, shape, wrap=lambda v: F32(v)):
    if len(shape) == 1:
        return [wrap(v) for v in values]
    rows, cols = shape
    return [[wrap(v) for v in values[r * cols:(r + 1) * cols]] for r in range(rows)]


def per_tensor(values, tensors):
    out, start = {}, 0
    for name, shape in tensors:
        n = element_count(shape)
        out[name] = reshape(values[start:start + n], shape)
        start += n
    return out


def to_json(value, indent=0):
    pad = "  " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = ["%s  %s: %s" % (pad, json.dumps(k, ensure_ascii=False), to_json(v, indent + 1))
                 for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, (list, tuple)):
        if all(not isinstance(v, (dict, list, tuple)) for v in value):
            return "[" + ", ".join(to_json(v) for v in value) + "]"
        items = ["%s  %s" % (pad, to_json(v, indent + 1)) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, F32):
        text = f32_text(value)
        return text if math.isfinite(value) else json.dumps(text)
    if isinstance(value, float):
        text = f64_text(value)
        return text if math.isfinite(value) else json.dumps(text)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def report(ck, name):
    out = {"file": name, "format_version": ck["format_version"], "sections": ck["sections"],
           "ignored_sections": ck["ignored_sections"], "alphabet": ck["alphabet"]}
    if ck["model"] is not None:
        model = dict(ck["model"])
        model["tensors"] = [{"name": n, "shape": list(s), "values": v}
                            for (n, s), v in zip(ck["_layout"], per_tensor(ck["_parameters"], ck["_layout"]).values())]
        out["model"] = model
    else:
        out["model"] = None
    if ck["optimizer"] is not None:
        opt = dict(ck["optimizer"])
        opt["m"] = per_tensor(ck["_m"], ck["_layout"])
        opt["v"] = per_tensor(ck["_v"], ck["_layout"])
        out["optimizer"] = opt
    elif any(s["tag"] == "OPTM" for s in ck["sections"]):
        out["optimizer"] = "present, not read (--skip-optimizer)"
    else:
        out["optimizer"] = None
    out["training"] = ck["training"]
    out["history"] = ck["history"]
    out["partial_epoch"] = ck["partial_epoch"]
    out["validation_points"] = ck["validation_points"]
    out["validation_points_ignored"] = ck["validation_points_ignored"]
    out["metadata"] = ck["metadata"]
    return to_json(out)


def hex_rows(offset_text, chunk, text, width=8):
    rows = []
    for i in range(0, max(len(chunk), 1), width):
        piece = chunk[i:i + width]
        rows.append("%-6s %-23s  %s" % (offset_text(i), " ".join("%02X" % b for b in piece),
                                        text if i == 0 else ""))
    return [r.rstrip() for r in rows]


def annotate(ck):
    lines = []
    for title, header_rows, payload in ck["_dump"]:
        lines.append("")
        lines.append("-- " + title)
        for off, size, text in header_rows:
            lines += hex_rows(lambda i: "%04X" % (off + i), DATA[off:off + size], text)
        if payload is None:
            continue
        at, stored, inflated, notes, remark = payload
        if remark is not None:
            lines += hex_rows(lambda i: "%04X" % (at + i), stored, "payload, %d bytes: %s" % (len(stored), remark))
            continue
        if not stored:
            continue
        if inflated is not None:
            n = len(stored)
            lines += hex_rows(lambda i: "%04X" % (at + i), stored[:2],
                              "zlib header: CMF 0x%02X (deflate, 32 KiB window), FLG 0x%02X" % (stored[0], stored[1]))
            lines += hex_rows(lambda i: "%04X" % (at + 2 + i), stored[2:n - 4],
                              "deflate data, %d bytes" % (n - 6))
            lines += hex_rows(lambda i: "%04X" % (at + n - 4 + i), stored[n - 4:],
                              "Adler-32 of the raw bytes (big-endian)")
            lines.append("       inflated, %d raw bytes (offsets +hex from the start of the raw payload):" % len(inflated))
            raw, where = inflated, (lambda base: lambda i: "+%04X" % (base + i))
        else:
            raw, where = stored, (lambda base: lambda i: "%04X" % (at + base + i))
        for off, size, text in notes or []:
            lines += hex_rows(where(off), raw[off:off + size], text)
    head = "offset bytes                    meaning (offsets hex; values little-endian)"
    return "\n".join([head] + lines)


DATA = b""


def main():
    global DATA
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="print the contents as JSON (default)")
    mode.add_argument("--annotate", action="store_true", help="print an annotated hex dump")
    mode.add_argument("--init-check", action="store_true",
                      help="compare TENS with the initial weights drawn from MODL's seed")
    parser.add_argument("--skip-optimizer", action="store_true",
                        help="do not inflate OPTM (as a sampler would); its stored CRC is still checked")
    parser.add_argument("file", help="checkpoint to read ('-': standard input)")
    args = parser.parse_args()
    name = "<stdin>" if args.file == "-" else args.file
    try:
        if args.file == "-":
            DATA = sys.stdin.buffer.read()
        else:
            with open(args.file, "rb") as handle:
                DATA = handle.read()
    except OSError as error:
        sys.stderr.write("%s: %s: %s\n" % (PROG, name, error.strerror or error))
        return 1
    try:
        ck = read_checkpoint(DATA, annotate=args.annotate, skip_optimizer=args.skip_optimizer)
        if args.init_check and ck["model"] is None:
            raise Refused("a vocab checkpoint has no model to check")
    except Refused as problem:
        sys.stderr.write("%s: %s: %s\n" % (PROG, name, problem))
        return 1
    out = sys.stdout.buffer
    if args.annotate:
        out.write((annotate(ck) + "\n").encode("utf-8"))
    elif args.init_check:
        model = ck["model"]
        expected = initial_weights(model, ck["_layout"])
        actual = ck["_tens_float_bytes"]
        what = "%s %s, %s, seed %d, %d parameters" % (model["cell"], ",".join(map(str, model["hidden"])),
                                                      model["initialiser"], model["seed"], model["parameters"])
        if expected == actual:
            out.write(("%s: TENS is bit-identical to the initial weights (%s)\n" % (name, what)).encode())
            return 0
        label = element_label("", ck["_layout"])
        differ = [i for i in range(len(actual) // 4) if actual[4 * i:4 * i + 4] != expected[4 * i:4 * i + 4]]
        first = differ[0]
        want = struct.unpack_from("<f", expected, 4 * first)[0]
        got = struct.unpack_from("<f", actual, 4 * first)[0]
        out.write(("%s: TENS differs from the initial weights (%s) in %d of %d values; first %s is %s, the initialiser gives %s\n"
                   % (name, what, len(differ), model["parameters"], label(first), f32_text(got), f32_text(want))).encode())
        return 2
    else:
        out.write((report(ck, name) + "\n").encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
