#!/usr/bin/env python3
"""charrnn models in PyTorch: load what `charrnn-convert --to safetensors`
writes, score a text, train one epoch (on a GPU with --device cuda), and save
back a file that `charrnn-convert --from safetensors` turns into a checkpoint
the charrnn tools continue from.

    python3 scripts/torch/charrnn_torch.py score --model e10.safetensors --text input.txt
    python3 scripts/torch/charrnn_torch.py train --model e10.safetensors --text input.txt \\
        --lr 0.0015 --device cuda -o e11.safetensors
    python3 scripts/torch/charrnn_torch.py export --model e10.safetensors --onnx e10.onnx
    python3 scripts/torch/charrnn_torch.py score --onnx e10.onnx --text input.txt

export --onnx writes a step model (one symbol and the state in, the logits and
the new state out) for every cell; formats/onnx.md names its inputs and
outputs. score --onnx runs such a file with onnxruntime (pip install onnx
onnxruntime).

One epoch here is charrnn-epoch's epoch (README "charrnn-epoch"):
  * layout: the training part (all but the last validation_fraction of the
    text) is cut into R = ceil(L / S) rows of S = ceil(L / batch_rows)
    characters; input x[t, r] = text[r*S + t] (the stop symbol past the end),
    target text[r*S + t + 1], none past the end (padding has no loss); the rows
    are cut into sequences of sequence_length steps, the state starts at zero
    and is carried (detached) from one sequence to the next;
  * per sequence: loss = sum of cross-entropy over the real targets / R; the
    gradient is clipped to global norm clip_norm * targets / R (the gradient of
    the loss per character clipped to clip_norm), then one ADAM step (betas and
    epsilon from the file, its moments and step continued);
  * dropout p > 0: each layer's outputs are multiplied by charrnn's own masks
    (formats/checkpoint.md section 4.5, `dropout_mask` below), so the epoch is
    the one charrnn-epoch would train, up to float rounding; likewise
    locked_dropout (one mask per sequence and row on each layer's outputs),
    input_dropout (one per sequence and row on the one-hot input) and
    weight_drop (DropConnect: one mask per sequence on each layer's recurrent
    matrices, RECURRENT below, applied with torch.func.functional_call so the
    gradient reaches the raw weight through the mask, as AWD-LSTM's WeightDrop);
  * then the loss per character on the held-out tail (same layout, zero state).
The settings come from the file (charrnn.settings); a model that was never
trained takes charrnn-epoch's defaults or --seq-length, --batch-rows,
--val-fraction, --clip, --dropout, --weight-decay, --weight-drop,
--locked-dropout and --input-dropout.

Under torchrun (docs/pytorch-and-sweeps.md, "Many machines"), train runs as
WORLD_SIZE processes (DistributedDataParallel; gloo on CPUs, nccl on GPUs, each
process cuda:LOCAL_RANK) that split the batch's R rows into contiguous blocks:

    torchrun --standalone --nproc-per-node 2 scripts/torch/charrnn_torch.py train \\
        --model e10.safetensors --text input.txt --lr 0.0015 -o e11.safetensors

each carries its rows' state and multiplies by its rows' dropout masks, divides
its loss by R (all rows) and the gradients are summed (all-reduce SUM), so the
epoch is the one-process epoch up to the order of float additions; rank 0
evaluates, writes the file and prints. --device mps (Apple Silicon) runs in one
process and is untested: this project has no Mac.

Tensors (formats/safetensors.md): for layer l (from 0) of an nn.LSTM / nn.GRU
/ nn.RNN, rnn.weight_ih_l<l>, rnn.weight_hh_l<l>, rnn.bias_ih_l<l> and
rnn.bias_hh_l<l> (zero and frozen: charrnn has one bias a layer), then
dense.weight and dense.bias (nn.Linear). The multiplicative LSTM, which
PyTorch lacks, is the MLSTM module below. ADAM's moments are
optimizer.exp_avg.<name> and optimizer.exp_avg_sq.<name>.

Needs torch (pip install "torch==2.13.0+cpu" for the CPU build) and numpy.
The safetensors file is read and written here from its specification, so the
safetensors package is not needed.
"""
import argparse
import gc
import json
import math
import os
import struct
import sys
import time
import weakref

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.distributed as dist

MAPPING_VERSION = "1"
DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
          "I64": (torch.int64, 8), "I32": (torch.int32, 4), "I16": (torch.int16, 2), "I8": (torch.int8, 1),
          "U8": (torch.uint8, 1), "BOOL": (torch.bool, 1)}
# The training settings charrnn declares (`charrnn-epoch --list-settings`: key, flag, type, first-epoch default);
# Tests/CLITests/SettingsDeclarationTests.swift checks that this table is exactly that list.
SETTINGS = [
    ("sequence_length", "--seq-length", "u64", 50),
    ("batch_rows", "--batch-rows", "u64", 50),
    ("validation_fraction", "--val-fraction", "f64", 0.05),
    ("clip_norm", "--clip", "f64", 5.0),
    ("dropout", "--dropout", "f64", 0.0),
    ("weight_decay", "--weight-decay", "f64", 0.0),
    ("weight_drop", "--weight-drop", "f64", 0.0),
    ("locked_dropout", "--locked-dropout", "f64", 0.0),
    ("input_dropout", "--input-dropout", "f64", 0.0),
]
DEFAULT_SETTINGS = {key: default for key, _, _, default in SETTINGS}
# Settings added after format 1.1 that a file without them means as 0: charrnn writes no key for 0.
ABSENT_ZERO = {"dropout", "weight_decay", "weight_drop", "locked_dropout", "input_dropout"}
SETTING_TYPES = {key: kind for key, _, kind, _ in SETTINGS}


class Processes:
    """Where this process stands: under torchrun (env WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE) one of
    `world` processes, `local_world` of them on this machine, that split the batch's rows; otherwise rank 0
    of 1. `joined` once the process group is up."""

    def __init__(self, environ):
        try:
            self.world = int(environ.get("WORLD_SIZE", "1"))
            self.rank = int(environ.get("RANK", "0"))
            self.local_rank = int(environ.get("LOCAL_RANK", "0"))
            self.local_world = int(environ.get("LOCAL_WORLD_SIZE", "1"))
        except ValueError:
            sys.exit("charrnn_torch: WORLD_SIZE, RANK and LOCAL_RANK must be whole numbers (torchrun sets them)")
        if not (self.world >= 1 and 0 <= self.rank < self.world and self.local_rank >= 0):
            sys.exit(f"charrnn_torch: RANK {self.rank} of WORLD_SIZE {self.world} is impossible")
        self.joined = False


PROCESSES = Processes(os.environ)


def fail(message):
    # The processes of a machine meet the same errors before the process group is up (they read the same
    # files and see the same devices), so its first process (LOCAL_RANK 0) alone says it; the others leave
    # quietly with status 0, so that torchrun, seeing a process fail, does not stop the first before it has
    # printed, and reports the first one's failure. Later, each says it with its rank.
    if not PROCESSES.joined and PROCESSES.local_rank > 0:
        sys.exit(0)
    if PROCESSES.joined and PROCESSES.rank > 0:
        sys.exit(f"charrnn_torch: rank {PROCESSES.rank}: {message}")
    sys.exit(f"charrnn_torch: {message}")


# ----------------------------------------------------------------------------- safetensors
# u64 header length N, N bytes of JSON ({name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}),
# then the tensors' little-endian bytes back to back.

def load_safetensors(path):
    """Returns ({name: tensor} in file order, {key: value} metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        fail(f"{path}: too short for a safetensors file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > 100_000_000 or 8 + length > len(data):
        fail(f"{path}: header length {length} is impossible for this {len(data)}-byte file")
    header = json.loads(data[8:8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + length
    tensors = {}
    for name, info in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
        dtype, size = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        if end - begin != size * math.prod(info["shape"]):
            fail(f"{path}: tensor {name}: shape and data_offsets disagree")
        raw = bytearray(data[base + begin:base + end])
        tensors[name] = torch.frombuffer(raw, dtype=dtype).reshape(info["shape"]) if raw else \
            torch.zeros(info["shape"], dtype=dtype)
    return tensors, metadata


def save_safetensors(path, tensors, metadata):
    """tensors: [(name, float32 tensor)] in the order to store them. Written atomically."""
    header = {"__metadata__": metadata} if metadata else {}
    blobs, offset = [], 0
    for name, tensor in tensors:
        blob = tensor.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    temporary = f"{path}.tmp.{os.getpid()}"
    with open(temporary, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for blob in blobs:
            f.write(blob)
    os.replace(temporary, path)


def exact(x):
    """A float for the metadata's JSON exactly: a number, or the hex of its bits when JSON has none."""
    x = float(x)
    if math.isfinite(x) and not (x == 0 and math.copysign(1, x) < 0):
        return x
    return "0x%016x" % struct.unpack("<Q", struct.pack("<d", x))[0]


def read_exact(value):
    if isinstance(value, str):
        return struct.unpack("<d", struct.pack("<Q", int(value, 16)))[0]
    return float(value)


# ----------------------------------------------------------------------------- the model

class MLSTM(nn.Module):
    """The multiplicative LSTM (Krause et al. 2016), one layer, as charrnn's:
        m = (W_im x) * (W_hm h);  a = W_ih x + W_mh m + b_ih;  i, f, g, o = a.chunk(4)
        c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
    Input (T, R, I) and state (h, c), each (1, R, H), like nn.LSTM."""

    def __init__(self, inputs, hidden):
        super().__init__()
        self.weight_ih_l0 = nn.Parameter(torch.zeros(4 * hidden, inputs))   # charrnn Wi
        self.weight_im_l0 = nn.Parameter(torch.zeros(hidden, inputs))       # Wmx
        self.weight_mh_l0 = nn.Parameter(torch.zeros(4 * hidden, hidden))   # Wh, reads m
        self.weight_hm_l0 = nn.Parameter(torch.zeros(hidden, hidden))       # Wmh
        self.bias_ih_l0 = nn.Parameter(torch.zeros(4 * hidden))             # b

    def forward(self, x, state):
        h, c = state[0][0], state[1][0]
        gates_x = x @ self.weight_ih_l0.T + self.bias_ih_l0   # (T, R, 4H): every step's input part at once
        m_x = x @ self.weight_im_l0.T                          # (T, R, H)
        outputs = []
        for t in range(x.shape[0]):
            m = m_x[t] * (h @ self.weight_hm_l0.T)
            i, f, g, o = (gates_x[t] + m @ self.weight_mh_l0.T).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))


# charrnn's cells (charrnn.cell): the module of one layer, made as module(inputs, hidden), and the
# state vectors it carries, 1 (h) or 2 (h, c). nn.LSTM's gates i, f, g, o and nn.GRU's r, z, n are
# charrnn's (Flux's) order; b_hh = 0 makes nn.GRU charrnn's GRU; nn.RNN's nonlinearity is tanh.
# The library tests (CellRegistryTests) hold this table to charrnn's CellRegistry.
CELLS = {
    "rnn": (nn.RNN, 1),
    "lstm": (nn.LSTM, 2),
    "gru": (nn.GRU, 1),
    "mlstm": (MLSTM, 2),
}


# Each cell's recurrent matrices in charrnn's declaration order (its `.recurrent` tensors): what weight_drop
# masks. The mLSTM's Wh (weight_mh, reads m) and Wmh (weight_hm, reads h) are both on the path from h to h'.
RECURRENT = {
    "rnn": ["weight_hh_l0"],
    "lstm": ["weight_hh_l0"],
    "gru": ["weight_hh_l0"],
    "mlstm": ["weight_mh_l0", "weight_hm_l0"],
}


def make_layer(cell, inputs, hidden):
    if cell not in CELLS:
        fail(f"unknown cell '{cell}' (this script knows {', '.join(CELLS)})")
    return CELLS[cell][0](inputs, hidden)


class CharRNN(nn.Module):
    """Chain(cell(N, H1), ..., cell(H(L-1), HL), Dense(HL, N)): one single-layer module per layer
    (the sizes may differ, and dropout applies between them), PyTorch's second bias frozen at 0."""

    def __init__(self, cell, symbols, hidden):
        super().__init__()
        self.cell, self.symbols, self.hidden = cell, symbols, hidden
        self.layers = nn.ModuleList(make_layer(cell, symbols if l == 0 else hidden[l - 1], h) for l, h in enumerate(hidden))
        self.dense = nn.Linear(hidden[-1], symbols)
        for layer in self.layers:
            if hasattr(layer, "bias_hh_l0"):
                with torch.no_grad():
                    layer.bias_hh_l0.zero_()
                layer.bias_hh_l0.requires_grad_(False)

    def named_tensors(self):
        """(file name, parameter) in charrnn's layout order, bias_hh right after bias_ih."""
        out = []
        for l, layer in enumerate(self.layers):
            for name, parameter in layer.named_parameters():
                out.append((f"rnn.{name[:-1]}{l}", parameter))   # weight_ih_l0 of layer l -> rnn.weight_ih_l<l>
        return out + [("dense.weight", self.dense.weight), ("dense.bias", self.dense.bias)]

    def zero_state(self, rows, device):
        zeros = [torch.zeros(1, rows, h, device=device) for h in self.hidden]
        return [(z, z.clone()) for z in zeros] if CELLS[self.cell][1] == 2 else zeros

    def forward(self, x, state, masks=None, input_mask=None, weight_masks=None):
        """x (T, R) symbol indices -> logits (T, R, N) and the new state; masks[l] (T, R, H_l) or None;
        input_mask (R, N) or None; weight_masks[l] {parameter name: mask} or None."""
        h = F.one_hot(x, self.symbols).float()
        if input_mask is not None:
            h = h * input_mask   # each row's factor per symbol, the same at every step
        new_state = []
        for l, (layer, s) in enumerate(zip(self.layers, state)):
            if weight_masks is not None:
                # DropConnect: the step reads raw * mask; autograd takes the gradient back through the product.
                masked = {name: getattr(layer, name) * mask for name, mask in weight_masks[l].items()}
                h, s = torch.func.functional_call(layer, masked, (h, s))
            else:
                h, s = layer(h, s)
            if masks is not None and masks[l] is not None:
                h = h * masks[l]   # inverted dropout on the layer's outputs, where the next layer reads them
            new_state.append(s)
        return self.dense(h), new_state


def detach(state):
    return [tuple(t.detach() for t in s) if isinstance(s, tuple) else s.detach() for s in state]


# ----------------------------------------------------------------------------- loading and saving

class Run:
    """A safetensors file from charrnn-convert: the model, ADAM's state and the metadata."""

    def __init__(self, path, device):
        tensors, self.metadata = load_safetensors(path)
        if self.metadata.get("charrnn.safetensors") != MAPPING_VERSION:
            fail(f"{path}: not a charrnn model file (no charrnn.safetensors {MAPPING_VERSION} in its metadata); "
                 "make one with charrnn-convert --to safetensors")
        if "charrnn.cell" not in self.metadata:
            fail(f"{path}: holds only an alphabet; make a model with charrnn-init first")
        self.alphabet = [chr(c) for c in json.loads(self.metadata["charrnn.alphabet"])]
        self.stop = int(self.metadata["charrnn.stop_index"])
        hidden = [int(h) for h in self.metadata["charrnn.hidden"].split(",")]
        self.model = CharRNN(self.metadata["charrnn.cell"], len(self.alphabet), hidden)
        for name, parameter in self.model.named_tensors():
            if name not in tensors:
                fail(f"{path}: tensor {name} is missing")
            with torch.no_grad():
                parameter.copy_(tensors[name])
        self.model.to(device)
        self.device = device
        self.optimizer = json.loads(self.metadata["charrnn.optimizer"]) if "charrnn.optimizer" in self.metadata else None
        self.moments = {name: (tensors[f"optimizer.exp_avg.{name}"], tensors[f"optimizer.exp_avg_sq.{name}"])
                        for name, p in self.model.named_tensors() if p.requires_grad} if self.optimizer else None
        self.settings = json.loads(self.metadata.get("charrnn.settings", "null"))
        self.history = json.loads(self.metadata.get("charrnn.history", "[]"))

    def encode(self, path, skip_unknown):
        """The text's symbols as alphabet indices (UTF-8, invalid bytes read as U+FFFD), its bytes' FNV-1a 64 and its length."""
        with open(path, "rb") as f:
            data = f.read()
        index = {c: i for i, c in enumerate(self.alphabet)}
        text = data.decode("utf-8", errors="replace")
        symbols, skipped = [], 0
        for position, c in enumerate(text):
            if c in index:
                symbols.append(index[c])
            elif skip_unknown:
                skipped += 1
            else:
                fail(f"{path}: character {position} is U+{ord(c):04X} {c!r}, which the model's alphabet lacks")
        h = 0xCBF29CE484222325
        for b in data:
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        return symbols, skipped, h, len(text)

    def save(self, path, adam, settings, record, note):
        named = self.model.named_tensors()
        tensors = list(named)
        step = None
        for prefix, key in (("optimizer.exp_avg.", "exp_avg"), ("optimizer.exp_avg_sq.", "exp_avg_sq")):
            for name, p in named:
                if p.requires_grad:
                    tensors.append((prefix + name, adam.state[p][key]))
                    step = int(adam.state[p]["step"])
        metadata = dict(self.metadata)
        group = adam.param_groups[0]
        metadata["charrnn.optimizer"] = json.dumps({"step": step, "beta1": exact(group["betas"][0]),
                                                    "beta2": exact(group["betas"][1]), "epsilon": exact(group["eps"])})
        entries = [[key, SETTING_TYPES[key], exact(value) if SETTING_TYPES[key] == "f64" else int(value)]
                   for key, value in sorted(settings.items()) if not (key in ABSENT_ZERO and value == 0)]
        metadata["charrnn.settings"] = json.dumps(entries)
        metadata["charrnn.history"] = json.dumps(self.history + [record])
        metadata["charrnn.meta"] = json.dumps(json.loads(metadata.get("charrnn.meta", "[]")) + [["charrnn_torch", note]])
        save_safetensors(path, tensors, metadata)


# ----------------------------------------------------------------------------- dropout masks
# formats/checkpoint.md section 4.5, vectorised with numpy (uint64 and uint32 arithmetic wraps as the spec's mod 2^64, 2^32).

M64 = (1 << 64) - 1


def mix64(z):
    """SplitMix64's finaliser, on a Python int or a numpy uint64 array."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def fmix32(h):
    """MurmurHash3's finaliser, on a numpy uint32 array."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


# The kinds of mask: dropout's per-step masks use the stream itself, every other kind mix64(stream ^ kind).
LOCKED_OUTPUTS, INPUT, RECURRENT_WEIGHTS = 1, 2, 3


def mask_key(seed, epoch, sequence, layer, kind=0):
    stream = mix64(mix64(mix64(mix64(seed) ^ epoch) ^ sequence) ^ layer)
    return stream if kind == 0 else mix64(stream ^ kind)


def dropout_mask(p, seed, epoch, sequence, layer, steps, rows, hidden, row_range=None):
    """Each unit's factor, (steps, rows, hidden) float32: 0 (dropped) or float32(1 / (1 - p)) (kept).
    With row_range (first, end): only those rows of the R = `rows`, (steps, end - first, hidden), the masks
    the whole batch's run gives them (a process of torchrun holds those rows)."""
    first, end = row_range or (0, rows)
    counters = (np.arange(steps, dtype=np.uint64).reshape(steps, 1, 1) * np.uint64(rows)
                + np.arange(first, end, dtype=np.uint64).reshape(1, end - first, 1))   # t * R + row
    return mask_factors(p, mask_key(seed, epoch, sequence, layer), counters, hidden)


def locked_mask(p, seed, epoch, sequence, layer, kind, rows, units, row_range=None):
    """One factor per (row, unit), (rows, units) float32, for every step of the sequence: the positions are
    the rows (those of step 0). For RECURRENT_WEIGHTS, a row is a row of the layer's stacked recurrent matrices.
    With row_range (first, end): only those rows, (end - first, units)."""
    first, end = row_range or (0, rows)
    counters = np.arange(first, end, dtype=np.uint64).reshape(end - first, 1)
    return mask_factors(p, mask_key(seed, epoch, sequence, layer, kind), counters, units)


def mask_factors(p, key, counters, hidden):
    with np.errstate(over="ignore"):
        position = mix64(np.uint64(key) ^ counters)
        low = (position & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        high = (position >> np.uint64(32)).astype(np.uint32)
        bits = fmix32(fmix32(np.arange(hidden, dtype=np.uint32) ^ low) ^ high)
    kept = (bits >> np.uint32(8)) >= np.uint32(math.ceil(p * 2 ** 24))
    return np.where(kept, np.float32(1 / (1 - p)), np.float32(0)).astype(np.float32)


# ----------------------------------------------------------------------------- data layout

def layout(symbols, rows, stop):
    """charrnn's BatchLayout: X (S, R) inputs, Y (S, R) targets (-100 = padding, no loss)."""
    length = len(symbols)
    S = -(-length // rows)
    R = -(-length // S)
    text = np.asarray(symbols, dtype=np.int64)
    X = np.full(S * R, stop, dtype=np.int64)
    X[:length] = text
    Y = np.full(S * R, -100, dtype=np.int64)
    Y[:length - 1] = text[1:]
    return torch.from_numpy(X.reshape(R, S).T.copy()), torch.from_numpy(Y.reshape(R, S).T.copy())


def evaluate(model, symbols, settings, stop, device):
    """Sum of cross-entropy and the number of real targets on `symbols`, from zero state."""
    if len(symbols) < 2:
        return 0.0, 0
    X, Y = layout(symbols, settings["batch_rows"], stop)
    state = model.zero_state(X.shape[1], device)
    total, targets = 0.0, 0
    with torch.no_grad():
        for start in range(0, X.shape[0], settings["sequence_length"]):
            x = X[start:start + settings["sequence_length"]].to(device)
            y = Y[start:start + settings["sequence_length"]].to(device)
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, model.symbols), y.reshape(-1), ignore_index=-100,
                                     reduction="sum").item()
            targets += int((y != -100).sum())
    return total, targets


# ----------------------------------------------------------------------------- commands

def score(args):
    """The loss on the text read as one stream from zero state, as charrnn-sample --score."""
    run = Run(args.model, args.device)
    symbols, skipped, _, _ = run.encode(args.text, skip_unknown=True)
    if skipped:
        print(f"charrnn_torch: {args.text}: skipped {skipped} characters the alphabet lacks", file=sys.stderr)
    if len(symbols) < 2:
        fail(f"{args.text}: needs at least 2 characters the alphabet has to score")
    model = run.model.eval()
    x = torch.tensor(symbols[:-1], device=args.device).reshape(-1, 1)
    y = torch.tensor(symbols[1:], device=args.device).reshape(-1, 1)
    state = model.zero_state(1, args.device)
    total = 0.0
    with torch.no_grad():
        for start in range(0, x.shape[0], 1000):
            logits, state = model(x[start:start + 1000], state)
            total += F.cross_entropy(logits.reshape(-1, model.symbols), y[start:start + 1000].reshape(-1),
                                     reduction="sum").item()
    n = len(symbols) - 1
    nats = total / n
    print(f"{args.text}: {n} characters predicted, {nats:.6f} nats/char ({nats / math.log(2):.6f} bits/char), "
          f"total {total:.1f} nats ({total / math.log(2):.1f} bits), perplexity {math.exp(nats):.3f}")


def resolve_settings(run, args):
    """The run's settings, or charrnn-epoch's defaults and the flags for a model never trained."""
    flags = {key: getattr(args, flag[2:].replace("-", "_")) for key, flag, _, _ in SETTINGS}
    if run.settings is None:
        settings = dict(DEFAULT_SETTINGS)
        settings.update({k: v for k, v in flags.items() if v is not None})
    else:
        settings = dict(DEFAULT_SETTINGS)
        for key, kind, value in run.settings:
            if key not in SETTING_TYPES:
                fail(f"{args.model}: its training settings include '{key}', which this script does not know")
            settings[key] = read_exact(value) if kind == "f64" else int(value)
        for key, value in flags.items():
            if value is not None and value != settings[key]:
                fail(f"this run was started with {key} {settings[key]}; charrnn-epoch --change-settings changes it")
    return settings


def sum_gradients(process_group, bucket):
    """DDP's communication hook: the processes' gradients added (all-reduce SUM), not DDP's default
    average. Each process's loss is already divided by the whole batch's rows R, so the sum is the
    gradient one process computes over all R rows, in another order of additions."""
    return dist.all_reduce(bucket.buffer(), group=process_group, async_op=True).get_future().then(lambda f: f.value()[0])


def train(args):
    processes = PROCESSES
    device = resolve_device(args.device, processes)
    run = Run(args.model, device)
    model = run.model
    settings = resolve_settings(run, args)
    symbols, _, text_hash, text_length = run.encode(args.text, skip_unknown=False)
    held_out = round(settings["validation_fraction"] * len(symbols))   # half to even, as charrnn-epoch
    if 0 < held_out < 2:
        held_out = 0
    train_part, val_part = symbols[:len(symbols) - held_out], symbols[len(symbols) - held_out:]
    if len(train_part) < 2:
        fail(f"{args.text}: the training part has {len(train_part)} characters; training needs at least 2")

    params = [p for _, p in model.named_tensors() if p.requires_grad]
    betas = (0.9, 0.999) if run.optimizer is None else (read_exact(run.optimizer["beta1"]), read_exact(run.optimizer["beta2"]))
    eps = 1e-8 if run.optimizer is None else read_exact(run.optimizer["epsilon"])
    # AdamW with weight_decay 0 is Adam step for step: p.mul_(1 - lr * 0) leaves every bit.
    adam = torch.optim.AdamW(params, lr=args.lr, betas=betas, eps=eps, weight_decay=settings["weight_decay"])
    step = 0 if run.optimizer is None else int(run.optimizer["step"])
    for name, p in model.named_tensors():
        if p.requires_grad:
            m, v = run.moments[name] if run.moments else (torch.zeros_like(p), torch.zeros_like(p))
            adam.state[p] = {"step": torch.tensor(float(step)), "exp_avg": m.to(device).clone(),
                             "exp_avg_sq": v.to(device).clone()}

    epoch = (run.history[-1]["epoch"] if run.history else 0) + 1
    seed, p = int(run.metadata["charrnn.seed"]), settings["dropout"]
    p_locked, p_input, p_weights = settings["locked_dropout"], settings["input_dropout"], settings["weight_drop"]
    X, Y = layout(train_part, settings["batch_rows"], run.stop)
    T, R = settings["sequence_length"], X.shape[1]
    # Under torchrun each process holds a contiguous block of the batch's R rows (sizes differ by at
    # most one), carries its rows' state and multiplies by its rows' dropout masks.
    world, rank = processes.world, processes.rank
    if R < world:
        fail(f"{args.text}: the batch has {R} row{'s' if R != 1 else ''} (batch_rows {settings['batch_rows']}), "
             f"too few to split over {world} processes; run fewer (torchrun --nproc-per-node) or more rows")
    first, end = rank * R // world, (rank + 1) * R // world
    net, backend = model, None
    if world > 1:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
        processes.joined = True
        # DDP all-reduces each gradient bucket as backward produces it and waits for all of them before
        # backward returns, so the clipping and the ADAM step below see the whole batch's gradient.
        net = nn.parallel.DistributedDataParallel(model, device_ids=[processes.local_rank] if backend == "nccl" else None)
        net.register_comm_hook(None, sum_gradients)
    state = model.zero_state(end - first, device)
    sequence_losses, sequence_targets = [], []   # per sequence: this process's sum of cross-entropy, all rows' targets
    net.train()
    start_time = time.perf_counter()
    for sequence, start in enumerate(range(0, X.shape[0], T)):
        x, y = X[start:start + T, first:end].to(device), Y[start:start + T, first:end].to(device)
        targets = int((Y[start:start + T] != -100).sum())   # the whole batch's: the clip and the skip are all rows'
        masks, input_mask, weight_masks = None, None, None
        if p > 0 or p_locked > 0:
            masks = []
            for l, h in enumerate(model.hidden):
                mask = dropout_mask(p, seed, epoch, sequence, l, x.shape[0], R, h, (first, end)) if p > 0 else None
                if p_locked > 0:
                    locked = locked_mask(p_locked, seed, epoch, sequence, l, LOCKED_OUTPUTS, R, h, (first, end))
                    mask = np.broadcast_to(locked, (x.shape[0], end - first, h)) if mask is None else mask * locked
                masks.append(torch.from_numpy(np.ascontiguousarray(mask)).to(device))
        if p_input > 0:
            input_mask = torch.from_numpy(
                locked_mask(p_input, seed, epoch, sequence, 0, INPUT, R, model.symbols, (first, end))).to(device)
        if p_weights > 0:
            weight_masks = []
            for l, layer in enumerate(model.layers):
                names = RECURRENT[model.cell]
                rows = [getattr(layer, name).shape[0] for name in names]
                stacked = torch.from_numpy(locked_mask(p_weights, seed, epoch, sequence, l, RECURRENT_WEIGHTS, sum(rows),
                                                       model.hidden[l])).to(device)
                weight_masks.append(dict(zip(names, stacked.split(rows))))
        state = detach(state)
        logits, state = net(x, state, masks, input_mask, weight_masks)
        loss = F.cross_entropy(logits.reshape(-1, model.symbols), y.reshape(-1), ignore_index=-100, reduction="sum")
        sequence_losses.append(loss.item())
        sequence_targets.append(targets)
        if targets == 0:
            continue   # charrnn-epoch takes no step without a real target (never under torchrun: R >= 2 there)
        adam.zero_grad(set_to_none=True)
        (loss / R).backward()   # / R, all rows' count, in every process: the sum of the processes' gradients is the batch's
        if settings["clip_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(params, settings["clip_norm"] * targets / R)
        adam.step()
    if world > 1:
        # The batch's loss of each sequence (float64 sums of the processes' float32 sums), then a check that
        # the processes, which each took the same ADAM steps on the same all-reduced gradients, agree.
        totals = torch.tensor(sequence_losses, dtype=torch.float64, device=device)
        dist.all_reduce(totals)
        sequence_losses = totals.tolist()
        flat = torch.cat([q.detach().reshape(-1) for q in params])
        low, high = flat.clone(), flat.clone()
        dist.all_reduce(low, dist.ReduceOp.MIN)
        dist.all_reduce(high, dist.ReduceOp.MAX)
        if not torch.equal(low.nan_to_num(), high.nan_to_num()):
            fail("the processes' weights differ after the epoch; their all-reduced gradients were not the same")
        # Let DDP go while the process group is still registered: its Reducer, freed holding the GIL, would
        # otherwise free the group itself and join gloo's threads, one of which may wait for the GIL to free
        # a finished all-reduce's tensors (a deadlock seen at exit); destroy_process_group frees it without.
        ddp = weakref.ref(net)
        net = None
        if ddp() is not None:
            gc.collect()
    synchronize(device)
    seconds = time.perf_counter() - start_time
    loss_sum, targets_sum = 0.0, 0
    for loss, targets in zip(sequence_losses, sequence_targets):
        loss_sum += loss
        targets_sum += targets
    if rank == 0:
        model.eval()
        val_sum, val_targets = evaluate(model, val_part, settings, run.stop, device)
        flags = 0
        if run.history and int(run.history[-1]["text_hash"], 16) != text_hash:
            flags |= 8   # text_changed
        record = {"epoch": epoch, "flags": flags, "learning_rate": exact(args.lr), "train_loss": exact(loss_sum / targets_sum),
                  "validation_loss": exact(val_sum / val_targets if val_targets else float("nan")),
                  "chars_per_second": exact(X.numel() / seconds), "seconds": exact(seconds),
                  "text_hash": "0x%016x" % text_hash, "text_length": text_length,
                  "optimizer_step": int(adam.state[params[0]]["step"])}
        where = device if world == 1 else f"{device} in {world} processes (torchrun, {backend})"
        note = f"epoch {epoch} trained by charrnn_torch.py with torch {torch.__version__} on {where}"
        if args.losses:
            write_losses(args.losses, sequence_losses, sequence_targets)
        run.save(args.output or args.model, adam, settings, record, note)
        val = f"val {val_sum / val_targets:.4f} nats/char" if val_targets else "no validation"
        print(f"charrnn_torch: epoch {epoch}: lr {args.lr:g} train {loss_sum / targets_sum:.4f} nats/char {val} "
              f"{X.numel() / seconds:,.0f} chars/s {seconds:.1f} s on {where}", file=sys.stderr)
    if world > 1:
        dist.destroy_process_group()


def write_losses(path, sequence_losses, sequence_targets):
    """--losses: a line per sequence, `sequence<TAB>targets<TAB>loss`, the loss in nats per character of
    the sequence's real targets (all rows'), exactly (repr); '-' for a sequence without targets. Atomic."""
    lines = ["sequence\ttargets\tnats_per_char\n"]
    for sequence, (loss, targets) in enumerate(zip(sequence_losses, sequence_targets)):
        lines.append(f"{sequence}\t{targets}\t{repr(loss / targets) if targets else '-'}\n")
    temporary = f"{path}.tmp.{os.getpid()}"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            f.writelines(lines)
        os.replace(temporary, path)
    except OSError as error:
        fail(f"{path}: cannot write the losses: {error.strerror}")


def resolve_device(requested, processes):
    """--device as torch names it, checked: cpu, cuda (under torchrun cuda:LOCAL_RANK), cuda:N or mps."""
    if requested == "cpu":
        return requested
    if requested == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            fail(f"--device mps: this torch ({torch.__version__}) sees no Apple Silicon GPU (MPS)")
        if processes.world > 1:
            fail("--device mps trains in one process: torchrun's backends (gloo, nccl) do not take MPS tensors")
        return requested
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            fail(f"--device {requested}: this torch ({torch.__version__}) sees no CUDA device")
        if processes.world > 1:
            if requested != "cuda":
                fail(f"--device {requested}: under torchrun give --device cuda; each process takes cuda:LOCAL_RANK")
            if torch.cuda.device_count() < processes.local_world:
                fail(f"--device cuda: {processes.local_world} processes on this machine (torchrun --nproc-per-node) "
                     f"but {torch.cuda.device_count()} CUDA devices; each process needs its own")
            torch.cuda.set_device(processes.local_rank)
            return f"cuda:{processes.local_rank}"
        return requested
    fail(f"--device {requested}: give cpu, cuda, cuda:N or mps")


def synchronize(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


# ----------------------------------------------------------------------------- ONNX (formats/onnx.md)

ONNX_OPSET = 17
ONNX_FORMAT = "1"


def export_onnx(args):
    """A step model written with onnx.helper from the equations (not traced), so every cell, the mLSTM
    included, becomes the same few operators (Gather, MatMul, Add, Mul, Sub, Sigmoid, Tanh, Split)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError:
        fail("export --onnx needs the onnx package (pip install onnx)")
    run = Run(args.model, "cpu")
    model = run.model
    cell, hidden, symbols = model.cell, model.hidden, model.symbols
    nodes, initializers = [], []

    def constant(name, array):
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def node(op, inputs, output, **attributes):
        nodes.append(helper.make_node(op, inputs, [output] if isinstance(output, str) else output, **attributes))
        return output

    def weight(layer, name):
        return getattr(model.layers[layer], name).detach().numpy().astype(np.float32)

    def project(l, x, name, matrix):
        """x W^T: for the first layer a row of W^T picked by the symbol (a one-hot x), else a product."""
        transposed = constant(f"l{l}.{name}.T", matrix.T)
        return node("Gather", [transposed, x], f"l{l}.{name}.x", axis=0) if l == 0 else node("MatMul", [x, transposed], f"l{l}.{name}.x")

    split_sizes = {}

    def split(l, value, parts, H):
        key = (parts, H)
        if key not in split_sizes:
            split_sizes[key] = f"split.{parts}x{H}"
            initializers.append(numpy_helper.from_array(np.full(parts, H, dtype=np.int64), split_sizes[key]))
        return node("Split", [value, split_sizes[key]], [f"{value}.{k}" for k in range(parts)], axis=1)

    inputs = [helper.make_tensor_value_info("symbol", TensorProto.INT64, ["batch"])]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", symbols])]
    x = "symbol"
    for l, H in enumerate(hidden):
        h, c = f"h{l}", f"c{l}"
        inputs.append(helper.make_tensor_value_info(h, TensorProto.FLOAT, ["batch", H]))
        if cell in ("lstm", "mlstm"):
            inputs.append(helper.make_tensor_value_info(c, TensorProto.FLOAT, ["batch", H]))
        b = weight(l, "bias_ih_l0") + (weight(l, "bias_hh_l0") if cell in ("rnn", "lstm") else 0)
        xi = node("Add", [project(l, x, "weight_ih", weight(l, "weight_ih_l0")), constant(f"l{l}.bias", b)], f"l{l}.xi")
        if cell == "rnn":          # h' = tanh(Wi x + b + Wh h)
            hh = node("MatMul", [h, constant(f"l{l}.weight_hh.T", weight(l, "weight_hh_l0").T)], f"l{l}.hh")
            node("Tanh", [node("Add", [xi, hh], f"l{l}.a")], f"{h}.out")
        elif cell == "gru":        # r, z = σ(xr + hr), σ(xz + hz); n = tanh(xn + r (hn + b_hn)); h' = n + z (h - n)
            gh = node("Add", [node("MatMul", [h, constant(f"l{l}.weight_hh.T", weight(l, "weight_hh_l0").T)], f"l{l}.hh0"),
                              constant(f"l{l}.bias_hh", weight(l, "bias_hh_l0"))], f"l{l}.hh")
            xr, xz, xn = split(l, xi, 3, H)
            hr, hz, hn = split(l, gh, 3, H)
            r = node("Sigmoid", [node("Add", [xr, hr], f"l{l}.ar")], f"l{l}.r")
            z = node("Sigmoid", [node("Add", [xz, hz], f"l{l}.az")], f"l{l}.z")
            n = node("Tanh", [node("Add", [xn, node("Mul", [r, hn], f"l{l}.rhn")], f"l{l}.an")], f"l{l}.n")
            node("Add", [n, node("Mul", [z, node("Sub", [h, n], f"l{l}.h-n")], f"l{l}.zh")], f"{h}.out")
        else:                      # lstm: a = Wi x + b + Wh h; mlstm: Wh reads m = (Wmx x)(Wmh h)
            if cell == "lstm":
                recurrent = node("MatMul", [h, constant(f"l{l}.weight_hh.T", weight(l, "weight_hh_l0").T)], f"l{l}.hh")
            else:
                mx = project(l, x, "weight_im", weight(l, "weight_im_l0"))
                mh = node("MatMul", [h, constant(f"l{l}.weight_hm.T", weight(l, "weight_hm_l0").T)], f"l{l}.mh")
                m = node("Mul", [mx, mh], f"l{l}.m")
                recurrent = node("MatMul", [m, constant(f"l{l}.weight_mh.T", weight(l, "weight_mh_l0").T)], f"l{l}.mm")
            ai, af, ag, ao = split(l, node("Add", [xi, recurrent], f"l{l}.a"), 4, H)
            i = node("Sigmoid", [ai], f"l{l}.i")
            f = node("Sigmoid", [af], f"l{l}.f")
            g = node("Tanh", [ag], f"l{l}.g")
            o = node("Sigmoid", [ao], f"l{l}.o")
            c_new = node("Add", [node("Mul", [f, c], f"l{l}.fc"), node("Mul", [i, g], f"l{l}.ig")], f"{c}.out")
            node("Mul", [o, node("Tanh", [c_new], f"l{l}.tc")], f"{h}.out")
        outputs.append(helper.make_tensor_value_info(f"{h}.out", TensorProto.FLOAT, ["batch", H]))
        if cell in ("lstm", "mlstm"):
            outputs.append(helper.make_tensor_value_info(f"{c}.out", TensorProto.FLOAT, ["batch", H]))
        x = f"{h}.out"
    dense_t = constant("dense.weight.T", model.dense.weight.detach().numpy().T)
    node("Add", [node("MatMul", [x, dense_t], "dense.x"), constant("dense.bias", model.dense.bias.detach().numpy())], "logits")
    # The graph's outputs in the documented order: logits, then each layer's h.out (and c.out).
    graph = helper.make_graph(nodes, f"charrnn_{cell}_step", inputs, outputs, initializers)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
                                   producer_name="charrnn_torch.py", producer_version=ONNX_FORMAT)
    onnx_model.ir_version = 8
    helper.set_model_props(onnx_model, {
        "charrnn.onnx": ONNX_FORMAT, "charrnn.cell": cell, "charrnn.hidden": ",".join(map(str, hidden)),
        "charrnn.alphabet": run.metadata["charrnn.alphabet"], "charrnn.stop_index": str(run.stop),
    })
    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, args.onnx)
    print(f"charrnn_torch: {args.model} -> {args.onnx}: {cell} {','.join(map(str, hidden))} step model, "
          f"{len(nodes)} nodes, opset {ONNX_OPSET}", file=sys.stderr)


def score_onnx(args):
    """The loss on the text with onnxruntime, one step at a time from zero state, as charrnn-sample --score."""
    try:
        import onnxruntime
    except ImportError:
        fail("score --onnx needs onnxruntime (pip install onnxruntime)")
    options = onnxruntime.SessionOptions()
    if args.threads:
        options.intra_op_num_threads = args.threads
    session = onnxruntime.InferenceSession(args.onnx, options, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("charrnn.onnx") != ONNX_FORMAT:
        fail(f"{args.onnx}: not a charrnn step model (no charrnn.onnx {ONNX_FORMAT} in its metadata)")
    alphabet = [chr(c) for c in json.loads(meta["charrnn.alphabet"])]
    stop = int(meta["charrnn.stop_index"])
    index = {c: i for i, c in enumerate(alphabet)}
    with open(args.text, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    symbols = [index[c] for c in text if c in index and index[c] != stop]
    if len(symbols) < 2:
        fail(f"{args.text}: needs at least 2 characters the alphabet has to score")
    state = {i.name: np.zeros((1, i.shape[1]), dtype=np.float32) for i in session.get_inputs() if i.name != "symbol"}
    names = [o.name for o in session.get_outputs()]
    total = 0.0
    for position in range(len(symbols) - 1):
        results = dict(zip(names, session.run(None, {"symbol": np.array([symbols[position]], dtype=np.int64), **state})))
        z = results["logits"][0].astype(np.float64)
        largest = z.max()
        total += math.log(np.exp(z - largest).sum()) - (z[symbols[position + 1]] - largest)
        state = {name: results[name + ".out"] for name in state}
    n = len(symbols) - 1
    nats = total / n
    print(f"{args.text}: {n} characters predicted, {nats:.6f} nats/char ({nats / math.log(2):.6f} bits/char), "
          f"total {total:.1f} nats ({total / math.log(2):.1f} bits), perplexity {math.exp(nats):.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("score", help="print the loss per character on a text, as charrnn-sample --score")
    t = commands.add_parser("train", help="train one epoch and save the model back")
    e = commands.add_parser("export", help="write the model as an ONNX step model (formats/onnx.md)")
    for p in (s, t, e):
        p.add_argument("--model", required=p is not s, help="safetensors file from charrnn-convert --to safetensors")
    for p in (s, t):
        p.add_argument("--text", required=True, help="UTF-8 text")
        p.add_argument("--device", default="cpu",
                       help="cpu (default), cuda, cuda:N or mps (Apple Silicon; untested: this project has no Mac)")
        p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    s.add_argument("--onnx", help="score with this ONNX step model in onnxruntime instead of --model")
    e.add_argument("--onnx", required=True, help="the .onnx file to write")
    t.add_argument("--lr", type=float, required=True, help="ADAM learning rate for this epoch")
    t.add_argument("-o", "--output", help="where to write the trained model (default: over --model, atomically)")
    t.add_argument("--losses", help="also write each sequence's loss (nats per character) to this file, a line per sequence")
    for _, flag, kind, _ in SETTINGS:
        t.add_argument(flag, type=int if kind == "u64" else float, help="first epoch only (the file has no settings yet); default as charrnn-epoch")
    args = parser.parse_args()
    if args.command == "export":
        return export_onnx(args)
    if args.command == "score" and (args.onnx is None) == (args.model is None):
        fail("score takes one of --model FILE.safetensors or --onnx FILE.onnx")
    if args.command == "score" and args.onnx:
        return score_onnx(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.command == "score":
        if PROCESSES.world > 1:
            fail("score runs in one process; run it without torchrun")
        args.device = resolve_device(args.device, PROCESSES)
        score(args)
    else:
        if not (args.lr > 0 and math.isfinite(args.lr)):
            fail(f"--lr must be a positive number, not {args.lr}")
        train(args)


if __name__ == "__main__":
    main()
