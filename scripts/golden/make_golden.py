#!/usr/bin/env python3
"""Golden fixture for charrnn's training engine, made with PyTorch (an
independent implementation), in the spirit of llm.c's test_gpt2.c.

For each cell (lstm, gru, rnn, mlstm) it builds the seed's model on a tiny
problem (6 symbols, layers of 5 and 4 units, 3 batch rows, 4-step sequences,
a 29-character text with padding at the end of the last row), with PyTorch's
own cells (nn.LSTM / nn.GRU / nn.RNN, b_hh frozen at zero so there is one
bias per layer as in Flux) or, for the multiplicative LSTM, which PyTorch
does not have, the small hand-written module MLSTM below (Krause et al.
2016, with autograd doing the backward pass), and runs one epoch exactly as
charrnn-epoch defines it:

  * layout: rows of S = ceil(L / rows) characters; input x[r, t] = text[r*S+t]
    (stop symbol past the end); target = text[r*S+t+1], none past the end;
  * per sequence: loss = sum of cross-entropy over real targets / rows;
    hidden state carried across sequences and detached;
  * gradient clipped to norm clip * targets / rows (char-rnn-tensorflow's
    per-character clip); Adam(lr, betas (0.9, 0.999), eps 1e-8).

One more LSTM case trains with dropout (p = 0.3) on each layer's outputs, its
masks drawn by `dropout_mask` below: a Python implementation of the mask
generator that formats/checkpoint.md §4.5 specifies, written from the spec.

It records, per sequence: the loss sum, the number of real targets, the
gradient before clipping (in charrnn's flat parameter layout) and the
gradient norm; and after the epoch: the parameters and both Adam moments.
The Swift test (GoldenTests.swift) loads the fixture and compares.

Usage: python3 scripts/golden/make_golden.py > Tests/CharRNNTests/Fixtures/golden.json
Needs: pip install "torch==2.13.0+cpu" numpy
"""
import json
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SYMBOLS = 6           # 5 text symbols + the stop symbol (index 5)
STOP = SYMBOLS - 1
HIDDEN = [5, 4]
ROWS = 3
SEQLEN = 4
LENGTH = 29
LR = 0.01
CLIP = 0.3            # small enough that some steps are clipped and some are not
SEED = 1234


def flat_layout(kind):
    names = []
    for l, h in enumerate(HIDDEN):
        i = SYMBOLS if l == 0 else HIDDEN[l - 1]
        if kind == "mlstm":
            names += [(f"layer{l+1}.Wi", (4 * h, i)), (f"layer{l+1}.Wmx", (h, i)), (f"layer{l+1}.Wh", (4 * h, h)),
                      (f"layer{l+1}.Wmh", (h, h)), (f"layer{l+1}.b", (4 * h,))]
        else:
            gates = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
            names += [(f"layer{l+1}.Wi", (gates * h, i)), (f"layer{l+1}.Wh", (gates * h, h)), (f"layer{l+1}.b", (gates * h,))]
    names += [("dense.W", (SYMBOLS, HIDDEN[-1])), ("dense.b", (SYMBOLS,))]
    return names


M32, M64 = (1 << 32) - 1, (1 << 64) - 1


def mix64(z):
    """SplitMix64's finaliser."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def fmix32(h):
    """MurmurHash3's finaliser."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def dropout_mask(p, seed, epoch, sequence, layer, steps, rows, hidden):
    """Each unit's factor, (steps, rows, hidden): 0 or float32(1 / (1 - p))."""
    stream = mix64(mix64(mix64(mix64(seed) ^ epoch) ^ sequence) ^ layer)
    threshold = math.ceil(p * 2 ** 24)
    scale = np.float32(1 / (1 - p))
    mask = np.zeros((steps, rows, hidden), dtype=np.float32)
    for t in range(steps):
        for r in range(rows):
            position = mix64(stream ^ (t * rows + r))
            low, high = position & M32, position >> 32
            for j in range(hidden):
                if fmix32(fmix32(j ^ low) ^ high) >> 8 >= threshold:
                    mask[t, r, j] = scale
    return mask


class MLSTM(nn.Module):
    """The multiplicative LSTM of Krause et al. 2016, written out:
        m = (Wmx x) * (Wmh h);  a = Wi x + Wh m + b;  i, f, g, o = split(a)
        c' = sigmoid(f) c + sigmoid(i) tanh(g);  h' = sigmoid(o) tanh(c')
    Input (T, R, I) and state (h, c) of (1, R, H) each, like nn.LSTM."""

    def __init__(self, inputs, hidden):
        super().__init__()
        self.wi = nn.Parameter(torch.empty(4 * hidden, inputs))
        self.wmx = nn.Parameter(torch.empty(hidden, inputs))
        self.wh = nn.Parameter(torch.empty(4 * hidden, hidden))
        self.wmh = nn.Parameter(torch.empty(hidden, hidden))
        self.b = nn.Parameter(torch.empty(4 * hidden))

    def forward(self, x, state):
        h, c = state[0][0], state[1][0]
        outputs = []
        for x_t in x:
            m = (x_t @ self.wmx.T) * (h @ self.wmh.T)
            i, f, g, o = (x_t @ self.wi.T + m @ self.wh.T + self.b).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))


class Net(nn.Module):
    def __init__(self, kind):
        super().__init__()
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": lambda i, h: nn.RNN(i, h, nonlinearity="tanh"),
               "mlstm": MLSTM}[kind]
        self.kind = kind
        self.cells = nn.ModuleList()
        for l, h in enumerate(HIDDEN):
            self.cells.append(cls(SYMBOLS if l == 0 else HIDDEN[l - 1], h))
        self.out = nn.Linear(HIDDEN[-1], SYMBOLS)
        if kind != "mlstm":
            for cell in self.cells:
                with torch.no_grad():
                    cell.bias_hh_l0.zero_()
                cell.bias_hh_l0.requires_grad_(False)

    def tensors(self):
        """Trainable tensors in charrnn's flat order."""
        out = []
        for cell in self.cells:
            if self.kind == "mlstm":
                out += [cell.wi, cell.wmx, cell.wh, cell.wmh, cell.b]
            else:
                out += [cell.weight_ih_l0, cell.weight_hh_l0, cell.bias_ih_l0]
        return out + [self.out.weight, self.out.bias]

    def forward(self, x, state, masks=None):
        h = F.one_hot(x, SYMBOLS).float()
        new_state = []
        for layer, (cell, s) in enumerate(zip(self.cells, state)):
            h, s = cell(h, s)
            if masks is not None:
                h = h * masks[layer]  # inverted dropout on the layer's outputs
            new_state.append(s)
        return self.out(h), new_state

    def zero_state(self):
        z = lambda h: torch.zeros(1, ROWS, h)  # noqa: E731
        if self.kind in ("lstm", "mlstm"):
            return [(z(h), z(h)) for h in HIDDEN]
        return [z(h) for h in HIDDEN]


def detach(state):
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, (list, tuple)):
        return type(state)(detach(s) for s in state)
    return state


def flat(tensors):
    return np.concatenate([t.detach().numpy().astype(np.float32).ravel() for t in tensors])


def f32list(array):
    # repr of a float32 round-trips exactly with 9 significant digits
    return [float(f"{float(v):.9g}") for v in np.asarray(array, dtype=np.float32).ravel()]


def run(kind, text, dropout=None):
    """dropout: None, or (p, seed, epoch) for masks on every layer's outputs."""
    torch.manual_seed(SEED)
    net = Net(kind)
    rng = np.random.default_rng(SEED)
    with torch.no_grad():
        for t in net.tensors():
            t.copy_(torch.from_numpy(rng.uniform(-0.6, 0.6, size=t.shape).astype(np.float32)))
    initial = flat(net.tensors())
    params = net.tensors()
    opt = torch.optim.Adam(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, foreach=False)

    S = math.ceil(LENGTH / ROWS)
    R = math.ceil(LENGTH / S)
    assert R == ROWS
    X = np.full((S, R), STOP, dtype=np.int64)
    Y = np.full((S, R), -100, dtype=np.int64)
    for r in range(R):
        for t in range(S):
            p = r * S + t
            if p < LENGTH:
                X[t, r] = text[p]
            if p + 1 < LENGTH:
                Y[t, r] = text[p + 1]

    state = net.zero_state()
    steps = []
    for start in range(0, S, SEQLEN):
        x = torch.from_numpy(X[start:start + SEQLEN])
        y = torch.from_numpy(Y[start:start + SEQLEN])
        state = detach(state)
        masks = None
        if dropout:
            p, dseed, epoch = dropout
            masks = [torch.from_numpy(dropout_mask(p, dseed, epoch, start // SEQLEN, l, x.shape[0], R, h))
                     for l, h in enumerate(HIDDEN)]
        logits, state = net(x, state, masks)
        loss_sum = F.cross_entropy(logits.reshape(-1, SYMBOLS), y.reshape(-1), ignore_index=-100, reduction="sum")
        targets = int((y != -100).sum())
        loss = loss_sum / R
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gradient = flat([p.grad for p in params])
        norm = torch.nn.utils.clip_grad_norm_(params, CLIP * targets / R).item()
        opt.step()
        steps.append({"steps": int(x.shape[0]), "loss_sum": float(loss_sum.item()), "targets": targets,
                      "gradient": f32list(gradient), "gradient_norm": norm,
                      "clipped": norm > CLIP * targets / R})
    m = flat([opt.state[p]["exp_avg"] for p in params])
    v = flat([opt.state[p]["exp_avg_sq"] for p in params])
    case = {"cell": kind}
    if dropout:
        case.update({"dropout": dropout[0], "dropout_seed": dropout[1], "dropout_epoch": dropout[2]})
    return {**case, "initial_parameters": f32list(initial), "steps": steps,
            "final_parameters": f32list(flat(params)), "adam_m": f32list(m), "adam_v": f32list(v),
            "adam_step": len(steps), "layout": [[n, list(s)] for n, s in flat_layout(kind)]}


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(SEED + 1)
    text = [int(v) for v in rng.integers(0, SYMBOLS - 1, size=LENGTH)]
    fixture = {
        "made_by": f"scripts/golden/make_golden.py with torch {torch.__version__}",
        "symbols": SYMBOLS, "stop": STOP, "hidden": HIDDEN, "rows": ROWS, "sequence_length": SEQLEN,
        "learning_rate": LR, "clip": CLIP, "text": text,
        "cases": [run(kind, text) for kind in ("lstm", "gru", "rnn", "mlstm")] + [run("lstm", text, dropout=(0.3, 17, 2))],
    }
    json.dump(fixture, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
