#!/usr/bin/env python3
"""Write formats/example.ckpt, the worked example of formats/checkpoint.md.

A second writer, independent of the Swift one: written from checkpoint.md
alone, with the Python standard library only. It lays out the example of
section 12 byte by byte as format 1.1, draws the initial weights with the
generator of section 11 and compresses with zlib at level 6, as the
specification says the charrnn writer does. The Swift tests check that the
Swift writer produces exactly this file; neither writer regenerates it for
the other.

Usage: make_example.py [-o FILE]   (default: example.ckpt beside this script)

Deflate output depends on the zlib build (checkpoint.md section 5); this one
was made with zlib 1.2.13, as the Swift writer's is.
"""

import argparse
import math
import os
import struct
import sys
import zlib

# ---------------------------------------------------------------------------
# The format (checkpoint.md sections 2 and 3).

MAGIC = b"\x89CRNN\r\n\x1a"
VERSION = (1, 1)
FLAG_ZLIB = 1
LEVEL = 6

# TSKV type codes (section 4.5).
U64, F64, TEXT = 1, 2, 3


def u8(x):
    return struct.pack("<B", x)


def u32(x):
    return struct.pack("<I", x)


def u64(x):
    return struct.pack("<Q", x)


def f64(x):
    return struct.pack("<d", x)


def f32s(values):
    return struct.pack("<%df" % len(values), *values)


def crc32(data):
    return zlib.crc32(data) & 0xFFFFFFFF


def file_header():
    head = MAGIC + struct.pack("<HH", *VERSION)
    return head + u32(crc32(head))


def section(tag, raw):
    """A section header and payload: deflated at level 6 when that is strictly
    smaller than the raw content, stored as is otherwise; empty never deflated."""
    flags, stored = 0, raw
    if raw:
        deflated = zlib.compress(raw, LEVEL)
        if len(deflated) < len(raw):
            flags, stored = FLAG_ZLIB, deflated
    header = tag + u32(flags) + u64(len(stored)) + u64(len(raw)) + u32(crc32(stored)) + u32(crc32(raw)) + u32(0)
    return header + u32(crc32(header)) + stored


# ---------------------------------------------------------------------------
# The initialiser (section 11): xoshiro256** seeded by SplitMix64.

MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31), state


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


class Generator:
    def __init__(self, seed):
        self.s = []
        for _ in range(4):
            word, seed = splitmix64(seed)
            self.s.append(word)

    def next(self):
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def unit(self):
        return (self.next() >> 40) * 2.0 ** -24


def f32(x):
    """x rounded to binary32 (round to nearest, ties to even)."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def initial_weights(seed, tensors):
    """Every tensor's values in TENS order, for an rnn (no forget-gate bias)."""
    rng = Generator(seed)
    values = []
    for name, shape in tensors:
        count = 1
        for d in shape:
            count *= d
        if name == "dense.b":
            values += [0.0] * count
            continue
        scale = f32(math.sqrt(24.0 / sum(shape)))
        # unit() - 0.5 is exact, and so is its product with a binary32 in
        # binary64: one rounding to binary32, as binary32 arithmetic gives.
        values += [f32((rng.unit() - 0.5) * scale) for _ in range(count)]
    return values


# ---------------------------------------------------------------------------
# The example (section 12).

def example():
    symbols, stop = [0x61, 0x62, 0x0B], 2
    n, hidden, seed = len(symbols), 2, 7
    tensors = [("layer1.Wi", (hidden, n)), ("layer1.Wh", (hidden, hidden)), ("layer1.b", (hidden,)),
               ("dense.W", (n, hidden)), ("dense.b", (n,))]
    parameters = sum(math.prod(shape) for _, shape in tensors)

    alph = u32(n) + u32(stop) + b"".join(u32(s) for s in symbols)
    modl = u32(1) + u32(1) + u64(seed) + u32(n) + u32(1) + u32(hidden)   # rnn, initialiser 1, L = 1

    directory = u32(len(tensors))
    for name, shape in tensors:
        directory += u8(len(name)) + name.encode("ascii") + u8(len(shape)) + b"".join(u32(d) for d in shape)
    directory += b"\0" * (-len(directory) % 4)
    tens = directory + f32s(initial_weights(seed, tensors))

    # Illustrative moments after one ADAM step with gradients g_i = (i - 10) / 64,
    # in binary32: m = f32(0.1) * g and v = (f32(0.001) * g) * g, each product rounded.
    gradients = [f32((i - 10) / 64) for i in range(parameters)]
    m = [f32(f32(0.1) * g) for g in gradients]
    v = [f32(f32(f32(0.001) * g) * g) for g in gradients]
    optm = u64(1) + f64(0.9) + f64(0.999) + f64(1e-8) + f32s(m) + f32s(v)

    # Training settings, one entry per key, in byte order of the keys.
    settings = sorted([(b"sequence_length", U64, u64(2)), (b"batch_rows", U64, u64(1)),
                       (b"validation_fraction", F64, f64(0.0)), (b"clip_norm", F64, f64(5.0))])
    tskv = u32(len(settings)) + b"".join(u8(len(key)) + key + u8(code) + value for key, code, value in settings)

    fnv = 0xCBF29CE484222325
    for byte in b"abab":
        fnv = ((fnv ^ byte) * 0x100000001B3) & MASK
    nan = struct.pack("<Q", 0x7FF8000000000000)          # no validation loss
    record = (u32(1) + u32(1 << 1)                       # epoch 1, timing_omitted
              + f64(0.002) + f64(1.0) + nan + f64(0.0) + f64(0.0)
              + u64(fnv) + u64(4) + u64(1))
    hist = u32(1) + record

    meta = b"writer=charrnn example\n"

    return (file_header() + section(b"ALPH", alph) + section(b"MODL", modl) + section(b"TENS", tens)
            + section(b"OPTM", optm) + section(b"TSKV", tskv) + section(b"HIST", hist)
            + section(b"meta", meta) + section(b"END ", b""))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "example.ckpt"),
                        help="file to write ('-': standard output)")
    args = parser.parse_args()
    data = example()
    if args.output == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(args.output, "wb") as handle:
            handle.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
