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


def _check_arguments(jobs, servers, per_server):
    if not servers:
        raise ValueError("no server to run on")
    if not 1 <= per_server <= MAX_PER_SERVER:
        raise ValueError(f"per_server must be 1 to {MAX_PER_SERVER}, got {per_server}")
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("two jobs have the same name")


def run_jobs(jobs, servers, per_server=2, progress=None, describe=str, summary=None):
    """Run every job on the servers; returns an Outcome per job, in the jobs' order.

    servers: started servers (objects with .url and .get, as comfy_server.ComfyServer / RemoteServer).
    describe(error) -> text for a failed job; summary(record) -> the text after a finished job's name."""
    _check_arguments(jobs, servers, per_server)
    return _Batch(jobs, servers, progress or Progress(len(jobs)), describe, summary).run(per_server)


class _Batch:
    """The shared state of one run_jobs call: the queue of jobs, the servers still alive, the outcomes.

    Every field is read and written under `cond`, by the worker threads (one per server and slot)."""

    def __init__(self, jobs, servers, progress, describe, summary):
        self.jobs, self.servers, self.progress = jobs, servers, progress
        self.describe, self.summary = describe, summary
        self.outcomes = {j.name: Outcome(j.name) for j in jobs}
        self.pending = collections.deque(jobs)
        self.in_flight = 0
        self.alive = {s.url for s in servers}
        self.gone = {}        # URL -> the error it went away with
        self.infos = {}       # URL -> its /object_info, fetched once
        self.cond = threading.Condition()

    def run(self, per_server):
        threads = [threading.Thread(target=self.worker, args=(s,), daemon=True, name=f"{short_url(s.url)}#{i}")
                   for s in self.servers for i in range(per_server)]
        for t in threads:
            t.start()
        try:
            self.wait(threads)
        except KeyboardInterrupt:
            self.cancel()
            raise
        finally:
            self.progress.close()
        self.fail_left()
        return [self.outcomes[j.name] for j in self.jobs]

    @staticmethod
    def wait(threads):
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.2)  # short joins keep Ctrl-C working

    def cancel(self):
        """Ctrl-C: the workers take nothing more, and this client's prompts leave every server."""
        with self.cond:
            self.pending.clear()
            self.alive.clear()
        for server in self.servers:
            cancel_own_prompts(server)

    def fail_left(self):
        """The jobs still queued when every server went away: failed, with the servers' errors."""
        with self.cond:
            left = list(self.pending)
            self.pending.clear()
        for job in left:
            outcome = self.outcomes[job.name]
            outcome.error = "no server left: " + "; ".join(f"{short_url(u)}: {e}" for u, e in self.gone.items())
            self.progress.finish("failed", f"{job.name}: FAILED ({outcome.error})")

    def object_info(self, server):
        with self.cond:
            if server.url in self.infos:
                return self.infos[server.url]
        info = server.get("/object_info")
        with self.cond:
            return self.infos.setdefault(server.url, info)

    def take(self, server):
        """The next job for this server, or None when there is nothing left for it."""
        with self.cond:
            while True:
                if server.url not in self.alive:
                    return None
                job = self.next_for(server)
                if job is not None:
                    return job
                if not self.pending and not self.in_flight:
                    return None
                self.cond.wait(0.5)

    def next_for(self, server):
        """The first queued job this server may run (a retry goes elsewhere when it can); under cond."""
        for i, job in enumerate(self.pending):
            tried = [u for u, _ in self.outcomes[job.name].attempts]
            others = self.alive - {server.url} - set(tried)
            if server.url not in tried or not others:
                del self.pending[i]
                self.in_flight += 1
                return job
        return None

    def worker(self, server):
        while True:
            job = self.take(server)
            if job is None:
                return
            self.progress.start(server.url)
            try:
                record = job.run(server, self.object_info(server))
            except Exception as e:  # noqa: BLE001 - every failure is classified and recorded
                self.failed(job, server, e)
            else:
                self.settle(job, server, record=record)
            finally:
                self.progress.stop(server.url)

    def failed(self, job, server, error):
        """Classify a job's failure: the server went away, try again, or the job's own failure."""
        if is_connection_error(error):
            gone = not answers(server)
            self.settle(job, server, error=f"{type(error).__name__}: {error}", retry=True, retire=gone)
        elif is_out_of_memory(error):
            self.settle(job, server, error=self.describe(error), retry=True)
        else:
            if getattr(error, "prompt_timeout", False):  # it would go on using the server for nothing
                cancel_prompt(server, error.prompt_id)
            self.settle(job, server, error=self.describe(error))

    def settle(self, job, server, record=None, error=None, retry=False, retire=False):
        with self.cond:
            self.in_flight -= 1
            if retire and server.url in self.alive:
                self.retire(server, error)
            if retry and self.requeue(job, server, error):
                return
            outcome = self.outcomes[job.name]
            outcome.server, outcome.record, outcome.error = server.url, record, error
            self.cond.notify_all()
        if error is None:
            self.progress.finish("done", f"{job.name} on {short_url(server.url)}: "
                                         f"{self.summary(record) if self.summary else 'done'}")
        else:
            self.progress.finish("failed", f"{job.name} on {short_url(server.url)}: FAILED\n{error}")

    def retire(self, server, error):
        """A server that went away: its workers stop (under cond)."""
        self.alive.discard(server.url)
        self.gone[server.url] = error
        self.progress.log(f"{short_url(server.url)} went away ({error}); its prompts go to the other server(s)")

    def requeue(self, job, server, error):
        """Put a job back at the front of the queue if it has tries left and a server to go to (under cond)."""
        outcome = self.outcomes[job.name]
        if len(outcome.attempts) + 1 >= MAX_ATTEMPTS or not self.alive:
            return False
        outcome.attempts.append((server.url, error))
        self.pending.appendleft(job)
        self.progress.log(f"{job.name}: failed on {short_url(server.url)} ({error}); trying again")
        self.cond.notify_all()
        return True


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
        except Exception:  # noqa: BLE001 - a slow answer is asked again; a server gone runs nothing of ours
            if not answers(server):
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
        waiting, running = [None], []  # unknown until the server answers
        try:
            queue = server.get("/queue")
            waiting = [e[1] for e in queue.get("queue_pending", []) if ours(e)]
            running = [e[1] for e in queue.get("queue_running", []) if ours(e)]
            if waiting:
                server.post("/queue", {"delete": waiting})
            for prompt_id in running:
                server.post("/interrupt", {"prompt_id": prompt_id})
        except Exception:  # noqa: BLE001 - a slow answer is asked again; a server gone has nothing of ours left
            if not answers(server):
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
