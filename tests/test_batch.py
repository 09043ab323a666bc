"""Batches over several ComfyUI servers (lab/commands/batch.py through run_workflow.py and dragbench.py), on two real
CPU servers on loopback: every run is done once, a server stopped mid-run has its prompts finished by the other,
the outputs equal a one-server run's pixel for pixel, and --resume skips what is finished."""
import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from lab.reference import scenes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
from lab.commands import batch  # noqa: E402
from lab.commands import run_workflow as rw  # noqa: E402
from lab.paths import lab_workflow  # noqa: E402
from lab.harness.comfy_server import ComfyServer  # noqa: E402

WORKFLOW = lab_workflow("SDE-Drag (reference model, CPU).json")
DRAG = "SDE-Drag Point Mover"
# paper with 30 steps: a few seconds a prompt on CPU, long enough to stop a server while it runs one
PAPER = ["--set", f"{DRAG}.method=paper", "--set", f"{DRAG}.steps=30"]
SEEDS = "1-6"


@pytest.fixture(scope="module")
def server_a():
    with ComfyServer() as s:
        yield s


@pytest.fixture(scope="module")
def server_b():
    with ComfyServer() as s:
        yield s


def cli(module, *args, check=True):
    done = subprocess.run([sys.executable, "-m", f"lab.commands.{module}", *args], capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def successes(server):
    """Prompt ids the server ran to success (its /history)."""
    return {k for k, v in server.get("/history?max_items=10000").items()
            if v.get("status", {}).get("status_str") == "success"}


def forget(server):
    """Run one unrelated prompt so that the server's cache holds none of the batch's nodes: a run repeated on it
    is computed again, not served from the cache."""
    cli("run_workflow", WORKFLOW, "--comfyui", server.url, "--seed", "999", "--out", os.path.join(
        server.base_dir, "forget"))


def contents(folder):
    """{file: pixels (pictures) or parsed JSON (the API prompt)} of a run's outputs, done.json's key included."""
    found = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.endswith((".png", ".webp")):
            with Image.open(path) as img:
                found[name] = np.asarray(img.convert("RGB")).copy()
        elif name == "workflow_api.json":
            with open(path, encoding="utf-8") as f:
                found[name] = json.load(f)
        elif name == rw.DONE_NAME:
            with open(path, encoding="utf-8") as f:
                found[name] = json.load(f)["key"]
    return found


def assert_same(a, b):
    assert sorted(a) == sorted(b)
    for name in a:
        if isinstance(a[name], np.ndarray):
            assert np.array_equal(a[name], b[name]), name
        else:
            assert a[name] == b[name], name


def test_two_servers_one_stopped_mid_run_then_resume(server_a, server_b, tmp_path):
    one, two = tmp_path / "one_server", tmp_path / "two_servers"
    # the one-server run the two-server run must equal
    cli("run_workflow", WORKFLOW, "--comfyui", server_a.url, "--seeds", SEEDS, *PAPER, "--out", str(one))
    forget(server_a)
    before_a = successes(server_a)

    # two servers; b is stopped while it runs one of its prompts, after the runner saved one of its runs
    process = subprocess.Popen([sys.executable, "-m", "lab.commands.run_workflow", WORKFLOW, "--comfyui",
                                f"{server_a.url},{server_b.url}", "--per-server", "2", "--seeds", SEEDS, *PAPER,
                                "--out", str(two)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    output = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    deadline, stopped = time.time() + 300, False
    finished_on_b = f"on {batch.short_url(server_b.url)}: 6 image(s)"  # the runner's line once a run is saved
    while time.time() < deadline and process.poll() is None:
        if any(finished_on_b in line for line in list(output)) and server_b.get("/queue")["queue_running"]:
            server_b.stop()
            stopped = True
            break
        time.sleep(0.05)
    assert stopped, "b never had a second prompt running after its first one:\n" + "".join(output)
    assert process.wait(300) == 0, "".join(output)
    reader.join(10)
    text = "".join(output)
    assert "went away" in text and "6 run(s) done, 0 failed" in text, text

    rows = json.loads((two / "summary.json").read_text())
    assert [r["run"] for r in rows] == [f"seed-{n}" for n in range(1, 7)]
    assert all(r["status"] == "done" for r in rows), rows
    on_a = [r for r in rows if r["server"] == server_a.url]
    on_b = [r for r in rows if r["server"] == server_b.url]
    moved = [r for r in rows if any(t["server"] == server_b.url for t in r.get("failed_tries", []))]
    assert on_b and moved, rows  # b did some, and what it was running when stopped was finished on a
    assert all(r["server"] == server_a.url for r in moved)
    # every run done once: a ran exactly the runs the summary gives it (nothing twice)
    assert len(successes(server_a) - before_a) == len(on_a)
    for n in range(1, 7):
        assert_same(contents(one / f"seed-{n}"), contents(two / f"seed-{n}"))

    # resume: only the runs whose done.json is missing run again (on a; b is gone)
    (two / "seed-3" / rw.DONE_NAME).unlink()
    (two / "seed-3" / "dragged-image_000.png").unlink()
    forget(server_a)
    before_a = successes(server_a)
    text = cli("run_workflow", WORKFLOW, "--comfyui", f"{server_a.url},{server_b.url}", "--seeds", SEEDS, *PAPER,
               "--out", str(two), "--resume")
    assert text.count("finished before, skipped") == 5 and "1 run(s) done, 0 failed, 5 skipped" in text, text
    assert "going on without it" in text  # b does not answer: the run goes on with a
    assert len(successes(server_a) - before_a) == 1
    assert_same(contents(one / "seed-3"), contents(two / "seed-3"))
    assert {r["status"] for r in json.loads((two / "summary.json").read_text())} == {"done", "finished before"}
    # a finished run with other settings is not skipped
    text = cli("run_workflow", WORKFLOW, "--comfyui", server_a.url, "--seeds", "1", *PAPER, "--set",
               f"{DRAG}.cfg=2", "--out", str(two), "--resume")
    assert "1 run(s) done, 0 failed, 0 skipped" in text, text


def scene_png(path, x, y, size=64):
    img = scenes.render(scenes.Scene(x, y, "red"), size, scenes.RADIUS * size / scenes.SIZE)
    Image.fromarray((img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(path)


def test_dragbench_spreads_samples_over_two_servers(server_a, tmp_path):
    with ComfyServer() as server_c:
        data = tmp_path / "DragBench"
        for i, (x, tx) in enumerate([(40, 28), (24, 36), (36, 24), (28, 40)]):
            sample = data / f"ball_{i}"
            sample.mkdir(parents=True)
            scene_png(sample / "origin_image.png", x, 28)
            (sample / "prompt.json").write_text(json.dumps({"source": [[x, 28]], "target": [[tx, 28]], "prompt": ""}))
        one, two = tmp_path / "one", tmp_path / "two"
        cli("dragbench", str(data), "--out", str(one), "--workflow", WORKFLOW, "--comfyui", server_a.url)
        forget(server_a)
        text = cli("dragbench", str(data), "--out", str(two), "--workflow", WORKFLOW, "--comfyui", server_a.url,
                   "--comfyui", server_c.url, "--per-server", "1")
        assert "4 done, 0 failed" in text, text
        rows = json.loads((two / "summary.json").read_text())
        assert {r["server"] for r in rows} == {server_a.url, server_c.url}, rows  # both servers worked
        for i in range(4):
            a = np.asarray(Image.open(one / f"ball_{i}" / "dragged_image.png"))
            b = np.asarray(Image.open(two / f"ball_{i}" / "dragged_image.png"))
            assert np.array_equal(a, b), i
        before = successes(server_c)
        text = cli("dragbench", str(data), "--out", str(two), "--workflow", WORKFLOW, "--comfyui", server_c.url,
                   "--resume")
        assert text.count("done before, skipped") == 4 and "4 done, 0 failed" in text, text
        assert successes(server_c) == before


def test_batch_arguments_are_checked_before_any_work(tmp_path):
    assert rw.parse_seeds("1-3,7") == [1, 2, 3, 7]
    for bad in ("3-1", "1,1", "x", "-1", f"0-{rw.MAX_JOBS}"):
        with pytest.raises(ValueError, match="--seeds"):
            rw.parse_seeds(bad)
    assert batch.parse_urls(["127.0.0.1:8188, http://h:1/", "http://127.0.0.1:8188"]) == [
        "http://127.0.0.1:8188", "http://h:1"]
    for args, message in ((["--per-server", "0"], "--per-server 0: must be 1 to 16"),
                          (["--timeout", "nan"], "--timeout nan"),
                          (["--seed", "1", "--seeds", "1-2"], "--seed and --seeds"),
                          (["--mask", str(tmp_path)], "--mask"),
                          (["--image", str(tmp_path / "none")], "no such file or folder")):
        text = cli("run_workflow", WORKFLOW, "--out", str(tmp_path / "o"), "--comfyui", "http://127.0.0.1:9",
                   *args, check=False)
        assert message in text, text
    # the key of a run changes with every setting and with the picture's content
    base = rw.Overrides(seed=1)
    keys = {rw.run_key(WORKFLOW, base), rw.run_key(WORKFLOW, rw.Overrides(seed=2)),
            rw.run_key(WORKFLOW, rw.Overrides(seed=1, sets=[(DRAG, "cfg", "2")]))}
    assert len(keys) == 3 and rw.run_key(WORKFLOW, base) == rw.run_key(WORKFLOW, rw.Overrides(seed=1))
    picture = tmp_path / "p.png"
    scene_png(picture, 30, 30)
    first = rw.run_key(WORKFLOW, rw.Overrides(image=str(picture)))
    scene_png(picture, 31, 30)
    assert rw.run_key(WORKFLOW, rw.Overrides(image=str(picture))) != first


class AnsweringServer:
    """The engine on its own: a server that answers every probe (so a dropped connection was a glitch)."""

    def __init__(self, url):
        self.url = url

    def get(self, path):
        return {}


def test_engine_retries_a_dropped_connection_and_records_job_failures():
    calls = []

    def flaky(server, info):
        calls.append(server.url)
        if len(calls) == 1:
            raise ConnectionResetError("connection reset by peer")
        return {"n": len(calls)}

    def broken(server, info):
        raise ValueError("bad points")

    servers = [AnsweringServer("http://a:1"), AnsweringServer("http://b:1")]
    outcomes = batch.run_jobs([batch.Job("flaky", flaky), batch.Job("broken", broken)], servers, per_server=1,
                              progress=batch.Progress(2, stream=open(os.devnull, "w")))
    flaky_outcome, broken_outcome = outcomes
    assert flaky_outcome.ok and len(flaky_outcome.attempts) == 1
    assert flaky_outcome.server != flaky_outcome.attempts[0][0]  # the retry went to the other server
    assert not broken_outcome.ok and "bad points" in broken_outcome.error and not broken_outcome.attempts
    with pytest.raises(ValueError, match="per_server"):
        batch.run_jobs([], servers, per_server=17)


def queue_once_empty(server, wait=90):
    """The server's queue once nothing is pending or running, or after `wait` seconds (an interrupted
    prompt leaves at its next model call, which on a loaded 2-core machine took over 30 s)."""
    deadline = time.time() + wait
    while True:
        queue = server.get("/queue")
        if (not queue["queue_pending"] and not queue["queue_running"]) or time.time() > deadline:
            return queue
        time.sleep(0.2)


def test_ctrl_c_takes_the_batch_off_the_server_and_resume_finishes_it(server_a, tmp_path):
    """SIGINT while a batch runs: exit status 130, none of its prompts left queued or running on the server;
    --resume then runs only what was not finished."""
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "lab.commands.run_workflow", WORKFLOW, "--comfyui",
                                server_a.url, "--per-server", "3", "--seeds", "11-16", *PAPER, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and not list(out.glob(f"*/{rw.DONE_NAME}")):
        time.sleep(0.05)
    process.send_signal(subprocess.signal.SIGINT)
    text = process.communicate(timeout=120)[0]
    assert process.returncode == 130 and "--resume" in text, text
    queue = queue_once_empty(server_a)
    assert not queue["queue_pending"] and not queue["queue_running"], queue
    finished = {p.parent.name for p in out.glob(f"*/{rw.DONE_NAME}")}
    assert 1 <= len(finished) < 6, finished
    text = cli("run_workflow", WORKFLOW, "--comfyui", server_a.url, "--seeds", "11-16", *PAPER, "--out", str(out),
               "--resume")
    assert text.count("finished before, skipped") == len(finished), text
    assert {p.parent.name for p in out.glob(f"*/{rw.DONE_NAME}")} == {f"seed-{n}" for n in range(11, 17)}


def test_a_prompt_past_its_timeout_fails_its_run_and_leaves_the_server(server_a, tmp_path):
    """--timeout: the run is reported failed (not retried), and its prompt is interrupted on the server."""
    text = cli("run_workflow", WORKFLOW, "--comfyui", server_a.url, "--timeout", "1", "--seeds", "21-22",
               "--set", f"{DRAG}.method=paper", "--set", f"{DRAG}.steps=10000", "--set", f"{DRAG}.drag_step=1",
               "--out", str(tmp_path / "out"),
               check=False)
    assert "did not finish within 1.0 s" in text and "0 run(s) done, 2 failed" in text, text
    # the bound only limits the wait: uncancelled, these prompts (paper, 10,000 steps) run for hours; on a
    # loaded 2-core machine (0.33's and 0.3.75's suites with other jobs beside) the interrupt took over 30 s
    queue = queue_once_empty(server_a)
    assert not queue["queue_pending"] and not queue["queue_running"], queue


def test_dragbench_arguments_are_checked_before_any_work(tmp_path):
    for args, message in ((["--multiple", "0"], "--multiple 0: must be 1 to 256"),
                          (["--size", "100000"], "each side must be 8 to 16384"),
                          (["--limit", "0"], "--limit 0"),
                          (["--per-server", "99"], "--per-server 99")):
        text = cli("dragbench", str(tmp_path), "--out", str(tmp_path / "o"), "--workflow", WORKFLOW,
                   "--comfyui", "http://127.0.0.1:9", *args, check=False)
        assert message in text, text
