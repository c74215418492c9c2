"""Load test of ``corral serve``: many concurrent OpenAI clients on loopback, continuous batching on and off.

The server (``corral serve`` on the embedded model, a child process on a free ``127.0.0.1`` port, stopped with
SIGINT after each mode) gets ``--requests`` requests from ``--clients`` concurrent clients (the official
``AsyncOpenAI`` client, no retries). The requests mix three JSON schemas (``response_format`` json_schema, one of
them on ``/v1/completions``), ``json_object``, two Lark grammars, a regex and choices (extra body fields); every
fifth request is streamed. Every response is checked: a ``finish_reason: "stop"`` output must be valid
(``jsonschema`` for schemas, the compiled constraint's ``accepts`` for the others), a ``"length"`` output is counted
as such, an error is counted by HTTP status, and a request that got neither (a transport error, the time limit) is
*lost*.

Each mode, continuous batching (a request joins the running batch at the next step) and static batching (a new
batch starts when the running one has ended), gets a fresh server, a warm-up request per workload (compiles every
constraint), then two timed passes of the whole workload: *cold* (other seeds; the compiled constraints' mask caches
fill as new parser states are met) and *warm* (the caches mostly hold what the workload needs). The table shows,
per pass: outcomes, latency percentiles (p50, p99, streamed time to first text), requests/s, generated tokens/s,
the engine's steps and mean rows per step, and the CPU seconds of the server and of the client process.

Usage::

    python benchmarks/load_test.py [--requests 500] [--clients 64] [--max-batch 16] [--max-tokens 48]
                                   [--time-limit 300] [--modes continuous,static] [--threads 1] [--json OUT]
                                   [--quick]

``--quick``: 60 requests, 16 clients. ``--time-limit`` bounds each pass (the requests not done by then are cancelled
and reported as lost). Loopback only. Exit status 1 when a response was invalid or lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402

PERSON = {"type": "object", "additionalProperties": False, "required": ["name", "age"],
          "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0,
                                                                              "maximum": 120}}}
ORDER = {"type": "object", "additionalProperties": False, "required": ["item", "qty", "express"],
         "properties": {"item": {"enum": ["pen", "book", "lamp", "cup"]}, "qty": {"type": "integer", "minimum": 1,
                                                                                "maximum": 99},
                        "express": {"type": "boolean"}}}
VERDICT = {"type": "object", "additionalProperties": False, "required": ["ok", "score"],
           "properties": {"ok": {"type": "boolean"}, "score": {"type": "integer", "minimum": 0, "maximum": 100}}}
SUM_GRAMMAR = 'start: NUM OP NUM "=" NUM\nNUM: /[0-9]{1,3}/\nOP: "+" | "-" | "*"'
KV_GRAMMAR = ('start: pair | pair ";" pair | pair ";" pair ";" pair\n'
              'pair: KEY "=" VAL\nKEY: /[a-z]{1,6}/\nVAL: /[0-9]{1,4}/')
REGEX = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
CHOICES = ["yes", "no", "maybe"]

#: name -> (endpoint, extra body fields, check kind)
WORKLOADS = {
    "schema-person": ("chat", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "person", "schema": PERSON, "strict": True}}}, ("schema", PERSON)),
    "schema-order": ("chat", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "order", "schema": ORDER, "strict": True}}}, ("schema", ORDER)),
    "schema-verdict": ("completion", {"response_format": {"type": "json_schema", "json_schema": {
        "name": "verdict", "schema": VERDICT}}}, ("schema", VERDICT)),
    "json-object": ("chat", {"response_format": {"type": "json_object"}}, ("schema", {"type": "object"})),
    "grammar-sum": ("completion", {"grammar": SUM_GRAMMAR}, ("grammar", SUM_GRAMMAR)),
    "grammar-kv": ("chat", {"grammar": KV_GRAMMAR}, ("grammar", KV_GRAMMAR)),
    "regex-date": ("completion", {"regex": REGEX}, ("regex", REGEX)),
    "choices": ("chat", {"choices": CHOICES}, ("choices", CHOICES)),
}
PROMPTS = ["Reply in the requested format.", "Give one example.", "Answer now:", "Data:"]


class Checker:
    """Validity of a finished output per workload: jsonschema for schemas, ``CompiledGrammar.accepts`` else."""

    def __init__(self, generator) -> None:
        from corral.constraint import Constraint

        self._compiled = {}
        for name, (_, _, (kind, spec)) in WORKLOADS.items():
            if kind != "schema":
                self._compiled[name] = generator.compile(Constraint(**{kind: spec}), compile_budget="unlimited")

    def valid(self, name: str, text: str) -> bool:
        """Whether ``text`` is a valid output of workload ``name``."""
        import jsonschema

        kind, spec = WORKLOADS[name][2]
        if kind == "schema":
            try:
                jsonschema.validate(json.loads(text), spec)
                return True
            except (ValueError, jsonschema.ValidationError):
                return False
        return self._compiled[name].accepts(text.encode("utf-8"))


def plan(n: int, seed: int) -> list:
    """``n`` requests: ``(index, workload, stream, prompt, seed)``, the workloads in turn, every fifth streamed."""
    names = list(WORKLOADS)
    return [(i, names[i % len(names)], i % 5 == 4, PROMPTS[i % len(PROMPTS)], seed + i) for i in range(n)]


async def one(client, model: str, item, max_tokens: int) -> dict:
    """Send one request; its record (status, finish reason, text, tokens, latency)."""
    import openai

    index, name, stream, prompt, seed = item
    endpoint, extra, _ = WORKLOADS[name]
    extra = dict(extra)
    body = {"model": model, "max_tokens": max_tokens, "seed": seed, "temperature": 1.0}
    if "response_format" in extra and endpoint == "chat":  # for /v1/completions it is an extra body field
        body["response_format"] = extra.pop("response_format")
    record = {"index": index, "workload": name, "stream": stream}
    start = time.perf_counter()
    try:
        if endpoint == "chat":
            call = client.chat.completions.create
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            call = client.completions.create
            body["prompt"] = prompt + "\n"
        if stream:
            pieces, reason, usage, first = [], None, None, None
            events = await call(stream=True, stream_options={"include_usage": True}, extra_body=extra, **body)
            async for chunk in events:
                usage = chunk.usage or usage
                for c in chunk.choices:
                    text = c.delta.content if endpoint == "chat" else c.text
                    if text and first is None:
                        first = time.perf_counter() - start
                    pieces.append(text or "")
                    reason = c.finish_reason or reason
            record.update(text="".join(pieces), finish=reason, tokens=usage.completion_tokens if usage else 0,
                          first_s=first)
        else:
            response = await call(extra_body=extra, **body)
            c = response.choices[0]
            record.update(text=c.message.content if endpoint == "chat" else c.text, finish=c.finish_reason,
                          tokens=response.usage.completion_tokens)
        record["status"] = 200
    except openai.APIStatusError as exc:
        record.update(status=exc.status_code, error=str(exc)[:200])
    except openai.APIConnectionError as exc:  # no answer at all
        record.update(status="lost", error=str(exc)[:200])
    except openai.APIError as exc:  # an error event in a stream
        record.update(status="stream-error", error=str(exc)[:200])
    except Exception as exc:  # a bug in this script or the client: counted, never silent
        record.update(status="lost", error=f"{type(exc).__name__}: {exc}"[:200])
    record["latency_s"] = time.perf_counter() - start
    return record


async def run_mode(url: str, model: str, items: list, clients: int, max_tokens: int, time_limit: float) -> tuple:
    """All requests with ``clients`` concurrent workers; ``(records, wall seconds)``."""
    import openai

    queue: asyncio.Queue = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)
    records: list = []
    async with openai.AsyncOpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120) as client:
        async def worker():
            while not queue.empty():
                records.append(await one(client, model, queue.get_nowait(), max_tokens))

        start = time.perf_counter()
        tasks = [asyncio.create_task(worker()) for _ in range(clients)]
        done, pending = await asyncio.wait(tasks, timeout=time_limit)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall = time.perf_counter() - start
    seen = {r["index"] for r in records}
    records += [{"index": i, "workload": it[1], "status": "lost", "error": "time limit", "latency_s": None}
                for i, it in enumerate(items) if it[0] not in seen]
    return records, wall


def summarize(mode: str, records: list, wall: float, checker: Checker) -> dict:
    """The row of the table for one mode (and the counts behind it)."""
    ok = [r for r in records if r["status"] == 200]
    invalid = [r for r in ok if r["finish"] == "stop" and not checker.valid(r["workload"], r["text"])]
    latencies = sorted(r["latency_s"] for r in ok)
    tokens = sum(r["tokens"] for r in ok)
    errors: dict = {}
    for r in records:
        if r["status"] != 200:
            errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1
    firsts = [r["first_s"] for r in ok if r.get("first_s") is not None]

    def pct(q):
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")

    return {"mode": mode, "requests": len(records), "ok": len(ok),
            "stop": sum(r["finish"] == "stop" for r in ok), "length": sum(r["finish"] == "length" for r in ok),
            "invalid": len(invalid), "errors": errors, "lost": errors.get("lost", 0), "wall_s": wall,
            "p50_s": pct(0.50), "p99_s": pct(0.99), "mean_s": statistics.fmean(latencies) if latencies else None,
            "ttft_p50_s": statistics.median(firsts) if firsts else None, "tokens": tokens,
            "tokens_per_s": tokens / wall if wall > 0 else 0.0, "requests_per_s": len(ok) / wall if wall else 0.0,
            "invalid_examples": [(r["workload"], r["text"]) for r in invalid[:5]]}


class Server:
    """``corral serve`` in a child process on a free loopback port (stopped with SIGINT, then killed if need be)."""

    def __init__(self, max_batch: int, max_queue: int, *, continuous: bool, threads: int | None = None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.argv = [sys.executable, "-m", "corral", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                     "--max-batch", str(max_batch), "--max-queue", str(max_queue), "--request-timeout", "120",
                     "--log-level", "warning"] + ([] if continuous else ["--no-continuous"])
        self.model = None
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if threads:
            self.env["OMP_NUM_THREADS"] = str(threads)  # torch's intra-op threads in the server

    def __enter__(self) -> "Server":
        self.proc = subprocess.Popen(self.argv, stderr=subprocess.DEVNULL, env=self.env)
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"corral serve exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=5) as response:
                    self.model = json.load(response)["model"]
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.__exit__()
                    raise TimeoutError("corral serve did not start within 120 s") from None
                time.sleep(0.2)

    def engine(self) -> dict:
        """The batch engine's counters (``steps``, ``tokens``) from ``/health``."""
        with urllib.request.urlopen(self.url + "/health", timeout=10) as response:
            return json.load(response)["stats"].get("engine", {})

    def cpu_s(self) -> float | None:
        """CPU seconds the server process has used (user + system; Linux ``/proc``), or ``None``."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def __exit__(self, *exc) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def measure(server, items: list, args, checker: Checker) -> tuple:
    """One timed pass of ``items`` on a running server: ``(summary, records)``, with the engine's steps, its
    mean rows per step, and the CPU seconds of the server and of this client process."""
    cpu0, client0, engine0 = server.cpu_s(), time.process_time(), server.engine()
    records, wall = asyncio.run(run_mode(server.url, server.model, items, args.clients, args.max_tokens,
                                         args.time_limit))
    cpu1, client1, engine1 = server.cpu_s(), time.process_time(), server.engine()
    summary = summarize("", records, wall, checker)
    steps = engine1.get("steps", 0) - engine0.get("steps", 0)
    summary["steps"] = steps
    summary["rows_per_step"] = (engine1.get("tokens", 0) - engine0.get("tokens", 0)) / steps if steps else None
    summary["server_cpu_s"] = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    summary["client_cpu_s"] = client1 - client0
    return summary, records


def main(argv=None) -> int:
    """Run the load test; 1 when a response was invalid or lost, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-queue", type=int, default=64)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per pass (default 300)")
    parser.add_argument("--modes", default="continuous,static")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads in the server (OMP_NUM_THREADS; 0: "
                                                               "torch's default)")
    parser.add_argument("--json", metavar="OUT", help="write the summaries and every record here")
    parser.add_argument("--quick", action="store_true", help="60 requests, 16 clients")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.clients = min(args.requests, 60), min(args.clients, 16)
    from corral.generator import Generator

    checker = Checker(Generator())
    warmup = plan(len(WORKLOADS), 10**9)  # compiles every constraint
    summaries, all_records = [], {}
    for mode in args.modes.split(","):
        with Server(args.max_batch, args.max_queue, continuous=(mode == "continuous"), threads=args.threads) as server:
            asyncio.run(run_mode(server.url, server.model, warmup, len(warmup), args.max_tokens, 120))
            for phase, seed in (("cold", args.seed + 10**7), ("warm", args.seed)):
                summary, records = measure(server, plan(args.requests, seed), args, checker)
                summary["mode"] = f"{mode} ({phase})"
                summaries.append(summary)
                all_records[summary["mode"]] = records
                print(f"{summary['mode']}: {summary['ok']}/{len(records)} ok in {summary['wall_s']:.1f} s",
                      file=sys.stderr, flush=True)
    print(f"\n{args.requests} requests, {args.clients} clients, max_batch {args.max_batch}, max_tokens "
          f"{args.max_tokens}, server torch threads {args.threads or 'default'}\n")
    print_table(["mode", "ok", "stop", "length", "invalid", "errors", "lost", "wall s", "p50 s", "p99 s",
                 "TTFT p50 s", "req/s", "tokens/s", "steps", "rows/step", "server CPU s", "client CPU s"],
                [[s["mode"], s["ok"], s["stop"], s["length"], s["invalid"],
                  ", ".join(f"{k}: {v}" for k, v in s["errors"].items() if k != "lost") or "0", s["lost"],
                  f"{s['wall_s']:.1f}", f"{s['p50_s']:.2f}", f"{s['p99_s']:.2f}",
                  "-" if s["ttft_p50_s"] is None else f"{s['ttft_p50_s']:.2f}", f"{s['requests_per_s']:.1f}",
                  f"{s['tokens_per_s']:.0f}", s["steps"],
                  "-" if s["rows_per_step"] is None else f"{s['rows_per_step']:.1f}",
                  "-" if s["server_cpu_s"] is None else f"{s['server_cpu_s']:.1f}",
                  f"{s['client_cpu_s']:.1f}"] for s in summaries])
    by_mode = {s["mode"]: s for s in summaries}
    for phase in ("cold", "warm"):
        on, off = by_mode.get(f"continuous ({phase})"), by_mode.get(f"static ({phase})")
        if on and off and off["tokens_per_s"] > 0:
            print(f"\n{phase}: continuous / static tokens/s = {on['tokens_per_s'] / off['tokens_per_s']:.2f}x, "
                  f"p50 latency {on['p50_s']:.2f} s vs {off['p50_s']:.2f} s", end="")
    print()
    for s in summaries:
        for workload, text in s["invalid_examples"]:
            print(f"INVALID ({s['mode']}, {workload}): {text!r}")
    if args.json:
        Path(args.json).write_text(json.dumps({"summaries": summaries, "records": all_records}, indent=1))
    return 1 if any(s["invalid"] or s["lost"] for s in summaries) else 0


if __name__ == "__main__":
    sys.exit(main())
