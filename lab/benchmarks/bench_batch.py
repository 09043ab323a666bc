"""How busy a batch keeps its servers: lab/commands/run_workflow.py over 1 or 2 ComfyUI servers, with 1 to 3 prompts in
flight per server. Prints a table: wall time, runs per minute, and each server's busy share (the sum of its runs'
execution times, from ComfyUI's own execution_start / execution_success stamps, over the batch's wall time).

    .venv/bin/python -m lab.benchmarks.bench_batch [--runs 12] [--workflow W.json] [--set NODE.input=value ...]
        [--servers 1,2] [--per-server 1,2,3]

The servers are started here (CPU, loopback). On one machine the servers share its cores, so two servers do not
run twice as fast here; what this measures is the time a server waits between prompts (uploads, fetching the
images, the client's turn-around), which is what --per-server hides. Every configuration runs the same seeds and
its outputs are checked equal to the first configuration's, pixel for pixel.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository root
from lab.harness.comfy_server import ComfyServer

WORKFLOW = os.path.join(ROOT, "lab", "workflows", "SDE-Drag (reference model, CPU).json")


def pictures(folder):
    return {os.path.relpath(os.path.join(d, n), folder): np.asarray(Image.open(os.path.join(d, n)).convert("RGB"))
            for d, _, names in os.walk(folder) for n in names if n.endswith(".png")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--workflow", default=WORKFLOW)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--servers", default="1,2")
    parser.add_argument("--per-server", default="1,2,3")
    args = parser.parse_args()
    counts = [int(n) for n in args.servers.split(",")]
    in_flight = [int(n) for n in args.per_server.split(",")]
    servers = [ComfyServer() for _ in range(max(counts))]
    for s in servers:
        s.start()
    rows, reference = [], None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            # one warm-up run per server: model loading is not part of a batch's steady state
            for i, s in enumerate(servers):
                subprocess.run([sys.executable, "-m", "lab.commands.run_workflow", args.workflow, "--comfyui", s.url,
                                "--seed", str(10 ** 6 + i), "--out", os.path.join(tmp, f"warm{i}")],
                               check=True, capture_output=True, cwd=ROOT)
            for n in counts:
                for k in in_flight:
                    out = os.path.join(tmp, f"s{n}k{k}")
                    cmd = [sys.executable, "-m", "lab.commands.run_workflow", args.workflow,
                           "--comfyui", ",".join(s.url for s in servers[:n]), "--per-server", str(k),
                           "--seeds", f"1-{args.runs}", "--out", out]
                    for item in args.sets:
                        cmd += ["--set", item]
                    started = time.time()
                    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
                    wall = time.time() - started
                    summary = json.load(open(os.path.join(out, "summary.json")))
                    busy = {s.url: sum(r["seconds"] for r in summary if r["server"] == s.url) for s in servers[:n]}
                    got = pictures(out)
                    same = "reference" if reference is None else (
                        "equal" if got.keys() == reference.keys() and all(np.array_equal(got[p], reference[p])
                                                                         for p in got) else "DIFFERENT")
                    reference = reference or got
                    rows.append((n, k, wall, 60 * args.runs / wall,
                                 " / ".join(f"{100 * b / wall:.0f} %" for b in busy.values()),
                                 " / ".join(str(sum(r["server"] == u for r in summary)) for u in busy), same))
    finally:
        for s in servers:
            s.stop()
    print(f"{args.runs} runs of {os.path.basename(args.workflow)} {' '.join(args.sets)}")
    print("| servers | in flight per server | wall s | runs / min | busy share per server | runs per server | outputs |")
    print("|---:|---:|---:|---:|---|---|---|")
    for n, k, wall, rate, busy, split, same in rows:
        print(f"| {n} | {k} | {wall:.1f} | {rate:.1f} | {busy} | {split} | {same} |")


if __name__ == "__main__":
    main()
