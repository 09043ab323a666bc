"""Spread many prompts over several ComfyUI servers: the batch engine of run_workflow.py and dragbench.py.

    results = run_jobs(jobs, servers, per_server=2, progress=Progress(len(jobs)))

A job is a name and a function job.run(server, object_info) that does one whole piece of work on one
server (upload its inputs, queue its prompt, wait, save its outputs) and returns a record. Every server
gets `per_server` worker threads, so at most that many of its prompts are queued or running at once
(ComfyUI runs one prompt at a time; a second one queued keeps it busy while the first one's images are
fetched and the next one's inputs uploaded). Workers take jobs from one shared queue, in order.

What happens when something fails:
  - the server went away (its connection refused or dropped; a /system_stats probe then gets no answer
    either): the server is retired, its workers stop, and the job goes back to the front of the queue
    for the other servers;
  - a connection error while the server still answers, or a GPU out-of-memory failure: the job is
    tried again, on another server where there is one, at most MAX_ATTEMPTS times in all;
  - anything else (ComfyUI rejected the prompt, a node raised, the prompt ran past its timeout, bad
    input files): the job's own failure, recorded and not retried; it would fail the same way anywhere.
    A prompt that ran past its timeout is taken off its server (out of the queue, or interrupted).
When every server is gone, the jobs not done are recorded as failed with the servers' errors.

The result of a job depends only on the job (its prompt: seeds and batch_index decide the outputs),
never on which server ran it or in which order. Stdlib only.
"""
import collections
import dataclasses
import http.client
import os
import sys
import threading
import time
import urllib.error

MAX_ATTEMPTS = 3          # tries of one job in all (server failures and out-of-memory only)
MAX_PER_SERVER = 16       # prompts in flight on one server
PROBE_TRIES, PROBE_WAIT = 3, 1.0


@dataclasses.dataclass
class Job:
    name: str
    run: object           # run(server, object_info) -> record (a dict)


@dataclasses.dataclass
class Outcome:
    name: str
    record: dict = None   # what job.run returned; None when it failed
    error: str = None     # why it failed (its last error)
    server: str = None    # the URL of the server that finished it (or failed it last)
    attempts: list = dataclasses.field(default_factory=list)  # [(server URL, error)] of the tries run again

    @property
    def ok(self):
        return self.error is None


class ServerGone(RuntimeError):
    """A server that stopped answering."""


def is_connection_error(error):
    """True for errors of the connection (refused, reset, dropped, timed out), not of the prompt."""
    if isinstance(error, urllib.error.HTTPError):  # the server answered, with an error status
        return False
    if getattr(error, "prompt_timeout", False):  # the prompt ran too long: the job's timeout, not the server
        return False
    return isinstance(error, (urllib.error.URLError, ConnectionError, http.client.HTTPException, TimeoutError,
                              ServerGone)) or (isinstance(error, OSError) and error.errno is not None
                                               and error.filename is None)


def is_out_of_memory(error):
    text = str(error).lower()
    return "out of memory" in text or "outofmemoryerror" in text.replace(" ", "")


def answers(server):
    """Whether the server still answers /system_stats (a few tries, PROBE_WAIT apart)."""
    for i in range(PROBE_TRIES):
        try:
            server.get("/system_stats")
            return True
        except Exception:  # noqa: BLE001 - any failure to answer counts
            if i + 1 < PROBE_TRIES:
                time.sleep(PROBE_WAIT)
    return False


def short_url(url):
    return url.split("://", 1)[-1].rstrip("/")


class Progress:
    """One progress bar for the whole batch, with each job's line printed above it.

    On a terminal the bar is redrawn in place; elsewhere (a log, CI) only the jobs' lines are printed,
    each starting with [done/total]."""

    def __init__(self, total, stream=None, width=24):
        self.total, self.done, self.failed, self.skipped = total, 0, 0, 0
        self.stream = stream or sys.stderr
        self.width, self.started = width, time.time()
        self.running = {}
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.lock = threading.Lock()

    def bar(self):
        finished = self.done + self.failed + self.skipped
        filled = int(self.width * finished / max(1, self.total))
        elapsed = time.time() - self.started
        worked = self.done + self.failed
        left = ""
        if worked and finished < self.total:
            left = f", ~{_clock(elapsed / worked * (self.total - finished))} left"
        running = " ".join(f"{short_url(u)}:{n}" for u, n in sorted(self.running.items()) if n)
        return (f"[{'#' * filled}{'-' * (self.width - filled)}] {finished}/{self.total}"
                f" ({self.failed} failed{f', {self.skipped} skipped' if self.skipped else ''})"
                f" {_clock(elapsed)}{left}{f' | running {running}' if running else ''}")

    def _write(self, line=None):
        if self.tty:
            self.stream.write("\r\x1b[2K")
        if line is not None:
            self.stream.write(line + "\n")
        if self.tty:
            self.stream.write(self.bar())
        self.stream.flush()

    def log(self, message):
        with self.lock:
            self._write(message)

    def count(self):
        return f"[{self.done + self.failed + self.skipped}/{self.total}]"

    def start(self, url):
        with self.lock:
            self.running[url] = self.running.get(url, 0) + 1
            if self.tty:
                self._write()

    def stop(self, url):
        with self.lock:
            self.running[url] = max(0, self.running.get(url, 0) - 1)

    def finish(self, kind, message):
        """kind: 'done', 'failed' or 'skipped'; prints '[n/total] message'."""
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            self._write(f"{self.count()} {message}")

    def close(self):
        with self.lock:
            if self.tty:
                self.stream.write("\r\x1b[2K" + self.bar() + "\n")
                self.stream.flush()


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def run_jobs(jobs, servers, per_server=2, progress=None, describe=str, summary=None):
    """Run every job on the servers; returns an Outcome per job, in the jobs' order.

    servers: started servers (objects with .url and .get, as comfy_server.ComfyServer / RemoteServer).
    describe(error) -> text for a failed job; summary(record) -> the text after a finished job's name."""
    if not servers:
        raise ValueError("no server to run on")
    if not 1 <= per_server <= MAX_PER_SERVER:
        raise ValueError(f"per_server must be 1 to {MAX_PER_SERVER}, got {per_server}")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("two jobs have the same name")
    progress = progress or Progress(len(jobs))
    outcomes = {j.name: Outcome(j.name) for j in jobs}
    pending = collections.deque(jobs)
    state = {"in_flight": 0, "alive": {s.url for s in servers}, "gone": {}}
    infos, cond = {}, threading.Condition()

    def object_info(server):
        with cond:
            if server.url in infos:
                return infos[server.url]
        info = server.get("/object_info")
        with cond:
            return infos.setdefault(server.url, info)

    def take(server):
        """The next job for this server, or None when there is nothing left for it."""
        with cond:
            while True:
                if server.url not in state["alive"]:
                    return None
                for i, job in enumerate(pending):
                    tried = [u for u, _ in outcomes[job.name].attempts]
                    others = state["alive"] - {server.url} - set(tried)
                    if server.url not in tried or not others:  # a retry goes elsewhere when it can
                        del pending[i]
                        state["in_flight"] += 1
                        return job
                if not pending and not state["in_flight"]:
                    return None
                cond.wait(0.5)

    def settle(job, server, record=None, error=None, retry=False, retire=False):
        outcome = outcomes[job.name]
        with cond:
            state["in_flight"] -= 1
            if retire and server.url in state["alive"]:
                state["alive"].discard(server.url)
                state["gone"][server.url] = error
                progress.log(f"{short_url(server.url)} went away ({error}); its prompts go to the other server(s)")
            if retry and len(outcome.attempts) + 1 < MAX_ATTEMPTS and state["alive"]:
                outcome.attempts.append((server.url, error))
                pending.appendleft(job)
                progress.log(f"{job.name}: failed on {short_url(server.url)} ({error}); trying again")
                cond.notify_all()
                return
            outcome.server, outcome.record, outcome.error = server.url, record, error
            cond.notify_all()
        if error is None:
            progress.finish("done", f"{job.name} on {short_url(server.url)}: {summary(record) if summary else 'done'}")
        else:
            progress.finish("failed", f"{job.name} on {short_url(server.url)}: FAILED\n{error}")

    def worker(server):
        while True:
            job = take(server)
            if job is None:
                return
            progress.start(server.url)
            try:
                record = job.run(server, object_info(server))
            except Exception as e:  # noqa: BLE001 - every failure is classified and recorded
                if is_connection_error(e):
                    gone = not answers(server)
                    settle(job, server, error=f"{type(e).__name__}: {e}", retry=True, retire=gone)
                elif is_out_of_memory(e):
                    settle(job, server, error=describe(e), retry=True)
                else:
                    if getattr(e, "prompt_timeout", False):  # it would go on using the server for nothing
                        cancel_prompt(server, e.prompt_id)
                    settle(job, server, error=describe(e))
            else:
                settle(job, server, record=record)
            finally:
                progress.stop(server.url)

    threads = [threading.Thread(target=worker, args=(s,), daemon=True, name=f"{short_url(s.url)}#{i}")
               for s in servers for i in range(per_server)]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)  # short joins keep Ctrl-C working
    except KeyboardInterrupt:
        with cond:
            pending.clear()  # the workers take nothing more
            state["alive"].clear()
        for server in servers:
            cancel_own_prompts(server)
        raise
    finally:
        progress.close()
    with cond:
        left = list(pending)
        pending.clear()
    for job in left:  # every server went away
        outcome = outcomes[job.name]
        outcome.error = "no server left: " + "; ".join(f"{short_url(u)}: {e}" for u, e in state["gone"].items())
        progress.finish("failed", f"{job.name}: FAILED ({outcome.error})")
    return [outcomes[j.name] for j in jobs]


def cancel_prompt(server, prompt_id, wait=60.0):
    """Take one prompt off a server: out of its queue, or interrupted if it is the one running.

    Asked until the prompt has left the server (at most `wait` seconds): one request is not enough, since a
    pending prompt can start between reading the queue and deleting it, and ComfyUI clears the interrupt flag
    when a prompt starts executing, so an interrupt sent in that gap is lost and the prompt runs to its end."""
    deadline = time.monotonic() + wait
    while True:
        try:
            queue = server.get("/queue")
            if any(e[1] == prompt_id for e in queue.get("queue_pending", []) if len(e) > 1):
                server.post("/queue", {"delete": [prompt_id]})
            elif any(e[1] == prompt_id for e in queue.get("queue_running", []) if len(e) > 1):
                server.post("/interrupt", {"prompt_id": prompt_id})  # a core that ignores prompt_id stops what runs: this one
            else:
                return
        except Exception:  # noqa: BLE001 - a server that does not answer runs nothing of ours
            return
        if time.monotonic() > deadline:
            return
        time.sleep(0.5)


def cancel_own_prompts(server, wait=30.0):
    """Take this client's prompts off a server's queue and interrupt the one it runs, if it is ours (Ctrl-C);
    asked again until none is left, for the race cancel_prompt describes (at most `wait` seconds)."""
    client = getattr(server, "client_id", None)

    def ours(entry):
        return len(entry) > 3 and isinstance(entry[3], dict) and entry[3].get("client_id") == client

    deadline = time.monotonic() + wait
    while True:
        try:
            queue = server.get("/queue")
            waiting = [e[1] for e in queue.get("queue_pending", []) if ours(e)]
            running = [e[1] for e in queue.get("queue_running", []) if ours(e)]
            if waiting:
                server.post("/queue", {"delete": waiting})
            for prompt_id in running:
                server.post("/interrupt", {"prompt_id": prompt_id})
        except Exception:  # noqa: BLE001 - a server that does not answer has nothing of ours left to cancel
            return
        if not (waiting or running) or time.monotonic() > deadline:
            return
        time.sleep(0.5)


def parse_urls(values):
    """--comfyui values (repeatable, each may hold several URLs split by commas) -> unique URLs, in order."""
    urls = []
    for value in values or ():
        for url in value.split(","):
            url = url.strip().rstrip("/")
            if not url:
                continue
            if "://" not in url:
                url = "http://" + url
            if url not in urls:
                urls.append(url)
    return urls


def atomic_write(path, text):
    """Write a file whole or not at all (a marker that a job is finished must never be half written)."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
