#!/usr/bin/env python3
"""Trains the same epoch twice with charrnn_torch.py, in one process and under torchrun in
--nproc processes (DistributedDataParallel, the batch's rows split between them), and compares
each sequence's loss, the epoch's losses and the weights:

    python3 scripts/torch/compare_ddp.py --model e1.safetensors --text input.txt --lr 0.002 \\
        --nproc 2 --out ddp-check [--tolerance 1e-4] [-- --device cuda]

writes OUT/one.safetensors, OUT/one.tsv (charrnn_torch.py train --losses), OUT/ranks.safetensors
and OUT/ranks.tsv, prints the two commands, their wall times and the differences, and exits 1
when some sequence's loss differs by more than --tolerance nats per character (docs/pytorch-and-sweeps.md,
"Many machines", says why the two differ at all: the order of float additions). Flags after `--` go to both
runs. torchrun runs with --standalone (localhost, a free port). Ctrl-C or TERM is passed on to the run.
"""
import argparse
import json
import math
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from charrnn_torch import load_safetensors  # noqa: E402

SCRIPT = os.path.join(HERE, "charrnn_torch.py")


def fail(message):
    sys.exit(f"compare_ddp: {message}")


def run(command, environment):
    """Runs `command`, passing SIGINT and SIGTERM on to it; returns its wall time in seconds."""
    print("$ " + " ".join(command), file=sys.stderr, flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(command, env=environment)
    previous = {s: signal.signal(s, lambda number, _frame: child.send_signal(number)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        status = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if status != 0:
        fail(f"{command[0]} exited with status {status}")
    return time.perf_counter() - start


def read_losses(path):
    """{sequence: nats per character} from a --losses file (sequences without targets left out)."""
    losses = {}
    with open(path, encoding="utf-8") as f:
        for line in list(f)[1:]:
            sequence, _, loss = line.rstrip("\n").split("\t")
            if loss != "-":
                losses[int(sequence)] = float(loss)
    return losses


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="safetensors file from charrnn-convert --to safetensors")
    parser.add_argument("--text", required=True)
    parser.add_argument("--lr", required=True)
    parser.add_argument("--nproc", type=int, default=2, help="processes under torchrun (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each process (default 1)")
    parser.add_argument("--out", required=True, help="folder for the two runs' files (made if missing)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest per-sequence difference allowed, nats/char")
    parser.add_argument("extra", nargs="*", help="flags after -- for both runs of charrnn_torch.py train")
    args = parser.parse_args()
    if args.nproc < 2:
        fail(f"--nproc {args.nproc}: compare at least 2 processes with one")
    os.makedirs(args.out, exist_ok=True)
    environment = dict(os.environ, LC_ALL="C")
    common = ["train", "--threads", str(args.threads), "--model", args.model, "--text", args.text, "--lr", args.lr] + args.extra
    files = {name: (os.path.join(args.out, f"{name}.safetensors"), os.path.join(args.out, f"{name}.tsv")) for name in ("one", "ranks")}
    seconds = {
        "one": run([sys.executable, SCRIPT] + common + ["-o", files["one"][0], "--losses", files["one"][1]], environment),
        "ranks": run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(args.nproc), SCRIPT]
                     + common + ["-o", files["ranks"][0], "--losses", files["ranks"][1]], environment),
    }
    tensors, records = {}, {}
    for name, (model, _) in files.items():
        tensors[name], metadata = load_safetensors(model)
        records[name] = json.loads(metadata["charrnn.history"])[-1]
    one, ranks = read_losses(files["one"][1]), read_losses(files["ranks"][1])
    if one.keys() != ranks.keys():
        fail(f"the runs have different sequences: {len(one)} and {len(ranks)}")
    differences = {s: abs(one[s] - ranks[s]) for s in one}
    worst = max(differences, key=differences.get)
    largest_weight, squared, norm = 0.0, 0.0, 0.0
    for name, a in tensors["one"].items():
        if name.startswith("optimizer."):
            continue
        b = tensors["ranks"][name]
        largest_weight = max(largest_weight, float((a - b).abs().max()) if a.numel() else 0.0)
        squared += float(((a.double() - b.double()) ** 2).sum())
        norm += float((a.double() ** 2).sum())
    for name in ("one", "ranks"):
        r = records[name]
        label = "1 process" if name == "one" else f"{args.nproc} processes"
        print(f"{label}: train {r['train_loss']:.6f} val {r['validation_loss']:.6f} nats/char, "
              f"epoch {r['seconds']:.1f} s, wall {seconds[name]:.1f} s")
    print(f"per-sequence loss: {len(one)} sequences, largest difference {differences[worst]:.3g} nats/char "
          f"(sequence {worst}), first sequence {differences[min(one)]:.3g}, last {differences[max(one)]:.3g}")
    print(f"epoch train loss difference {abs(records['one']['train_loss'] - records['ranks']['train_loss']):.3g}, "
          f"val {abs(records['one']['validation_loss'] - records['ranks']['validation_loss']):.3g} nats/char")
    print(f"weights: largest difference {largest_weight:.3g}, relative to their norm {math.sqrt(squared / norm):.3g}")
    if differences[worst] > args.tolerance:
        print(f"compare_ddp: sequence {worst} differs by {differences[worst]:.3g} > --tolerance {args.tolerance:g}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
