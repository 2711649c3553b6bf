"""LINE webhook throughput: our app beside the SDK's own echo bot and bare Starlette, one process each.

Each server talks to the fake LINE API (its own process, on loopback). The load is 2,000 signed
webhooks, one text event each from a distinct user, 32 at a time (saturation), to each server in
turn, five rounds; then 100 msg/s for 30 s to each (fixed offered load, new users again). Reply
latency is from sending the webhook to the fake accepting the reply, both on `time.monotonic` (one
clock for every process). Peak RSS is VmHWM of the server process after all of it (its start-up
included: DATA_DIR was filled by an earlier start).

`python -m benchmarks.webhook_load [--app-dir DIR] [--only app,echo,bare] [--profile DIR]` runs it
alone and prints the table (DIR: another checkout of the bot, for before/after figures).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from benchmarks.targets import bench_user
from bot.config import ROOT
from bot.core.evaluation import load_eval

SECRET = "bench-channel-secret-0123456789abcdef"
TOKEN = "bench-channel-access-token"
EVENTS = 2000
CONCURRENCY = 32
RATE = 100.0
SECONDS = 30.0
WARM_UP = 1000
ROUNDS = 5
KINDS = {
    "app": "tokutei-bot (LINE on)",
    "echo": "line-bot-sdk async echo bot",
    "bare": "bare Starlette (no reply)",
}


@dataclass
class Run:
    """What one load run measured."""

    sent: int
    seconds: float
    http_errors: int
    answered_once: int
    missing: int
    duplicates: int
    latencies_ms: list[float]
    api_calls: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


@dataclass
class Result:
    kind: str
    runs: list[Run]
    """The saturation runs, one a round."""
    fixed: Run
    peak_rss_mb: float
    rss_after_mb: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sign(raw: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), raw, hashlib.sha256).digest()).decode()


def webhook(user: str, text: str) -> tuple[bytes, str, str]:
    """(body, signature, reply token) of one text message event, as LINE sends it."""
    token = uuid.uuid4().hex
    event = {
        "type": "message",
        "message": {"type": "text", "id": str(uuid.uuid4().int)[:18], "quoteToken": uuid.uuid4().hex, "text": text},
        "webhookEventId": uuid.uuid4().hex[:26].upper(),
        "deliveryContext": {"isRedelivery": False},
        "timestamp": int(time.time() * 1000),
        "source": {"type": "user", "userId": user},
        "replyToken": token,
        "mode": "active",
    }
    raw = json.dumps({"destination": "U0d1b7e0c6b4f2a9e8d7c6b5a4f3e2d1c", "events": [event]}).encode()
    return raw, sign(raw), token


def memory(pid: int) -> tuple[float, float]:
    """(VmHWM, VmRSS) of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmHWM"], values["VmRSS"]


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def wait_up(url: str, proc: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url}: server exited with {proc.returncode}")
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url}: not up after {seconds} s")


class Load:
    """Sends signed webhooks to one server and reads back what the fake LINE API received."""

    def __init__(self, target: str, fake: str, texts: list[str], kind: str, first_user: int = 0) -> None:
        self.target = target
        self.fake = fake
        self.texts = texts
        self.kind = kind
        self.next_user = first_user

    def batch(self, count: int) -> list[tuple[bytes, str, str]]:
        out = []
        for _ in range(count):
            n = self.next_user
            self.next_user += 1
            out.append(webhook(bench_user(n), self.texts[n % len(self.texts)]))
        return out

    async def reset(self, session: aiohttp.ClientSession) -> None:
        async with session.post(self.fake + "/bench/reset") as response:
            await response.read()

    async def read_fake(self, session: aiohttp.ClientSession) -> dict[str, Any]:
        async with session.get(self.fake + "/bench/deliveries") as response:
            data: dict[str, Any] = await response.json()
            return data

    async def post(self, session: aiohttp.ClientSession, item: tuple[bytes, str, str], sent: dict[str, float],
                   answered: dict[str, float]) -> bool:  # fmt: skip
        raw, signature, token = item
        sent[token] = time.monotonic()
        headers = {"content-type": "application/json", "x-line-signature": signature}
        try:
            async with session.post(self.target, data=raw, headers=headers) as response:
                await response.read()
                answered[token] = time.monotonic()
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def collect(
        self, session: aiohttp.ClientSession, items: list[tuple[bytes, str, str]], sent: dict[str, float],
        answered: dict[str, float], started: float, errors: int,
    ) -> Run:  # fmt: skip
        tokens = {token for _, _, token in items}
        if self.kind == "bare":  # nothing is replied: the HTTP answer is all there is
            latencies = [(answered[t] - sent[t]) * 1000 for t in tokens if t in answered]
            end = max(answered.values(), default=started)
            return Run(len(items), end - started, errors, len(latencies), len(tokens) - len(latencies), 0, latencies)
        deadline = time.monotonic() + 120
        while True:
            data = await self.read_fake(session)
            delivered = [d for d in data["deliveries"] if d["to"] in tokens]
            if len({d["to"] for d in delivered}) >= len(tokens) - errors or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # late duplicates, if any
        data = await self.read_fake(session)
        delivered = [d for d in data["deliveries"] if d["to"] in tokens]
        counts: dict[str, int] = {}
        first: dict[str, float] = {}
        for d in delivered:
            counts[d["to"]] = counts.get(d["to"], 0) + 1
            first.setdefault(d["to"], d["at"])
        latencies = [(first[t] - sent[t]) * 1000 for t in first]
        end = max(first.values(), default=started)
        once = sum(1 for c in counts.values() if c == 1)
        return Run(
            sent=len(items), seconds=end - started, http_errors=errors, answered_once=once,
            missing=len(tokens) - len(counts), duplicates=sum(c - 1 for c in counts.values()),
            latencies_ms=latencies, api_calls=data["calls"],
        )  # fmt: skip

    async def saturate(self, count: int, concurrency: int) -> Run:
        items = self.batch(count)
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            await self.reset(session)
            queue = list(reversed(items))
            errors = 0

            async def worker() -> None:
                nonlocal errors
                while queue:
                    if not await self.post(session, queue.pop(), sent, answered):
                        errors += 1

            started = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return await self.collect(session, items, sent, answered, started, errors)

    async def fixed(self, rate: float, seconds: float) -> Run:
        items = self.batch(int(rate * seconds))
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}
        connector = aiohttp.TCPConnector(limit=512)
        async with aiohttp.ClientSession(connector=connector) as session:
            await self.reset(session)
            errors = 0

            async def one(item: tuple[bytes, str, str]) -> None:
                nonlocal errors
                if not await self.post(session, item, sent, answered):
                    errors += 1

            started = time.monotonic()
            tasks = []
            for n, item in enumerate(items):
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(item)))
            await asyncio.gather(*tasks)
            run = await self.collect(session, items, sent, answered, started, errors)
            run.seconds = seconds  # offered load: the rate is the one asked for
            return run


def prepare_data_dir(app_dir: Path, data_dir: Path) -> None:
    """A first start fills DATA_DIR (analysis cache, unpacked language model), as in production."""
    env = {**os.environ, "DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING"}
    for text in ("特定在留カードってなに？", "do i have to get the new card"):
        subprocess.run([sys.executable, "-m", "bot", "ask", text], cwd=app_dir, env=env, check=True,
                       capture_output=True)  # fmt: skip


async def measure_all(kinds: tuple[str, ...], app_dir: Path, texts: list[str], work: Path,
                      profile: Path | None = None) -> list[Result]:  # fmt: skip
    """Start the fake API and every server, then load them in turns, `ROUNDS` times, and read their memory.

    Taking turns, round after round, spreads whatever else the machine is doing over every server
    alike; the ratio to the echo bot is taken within each round.
    """
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    per_kind = WARM_UP + EVENTS * ROUNDS + int(RATE * SECONDS) + 10
    env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
           "LINE_API_BASE_URL": fake_url, "PYTHONPATH": str(ROOT)}  # fmt: skip
    fake_cmd = [sys.executable, "-m", "benchmarks.targets", "fake-line", "--port", str(fake_port),
                "--users", str(per_kind), "--kinds", str(len(kinds))]  # fmt: skip
    with contextlib.ExitStack() as stack:
        fake = stack.enter_context(process(fake_cmd, env, ROOT, work / "fake.log"))
        await wait_up(fake_url + "/bench/deliveries", fake)
        servers: dict[str, subprocess.Popen[bytes]] = {}
        loads: dict[str, Load] = {}
        for number, kind in enumerate(kinds):
            port = free_port()
            if kind == "app":
                data_dir = work / "data-app"
                prepare_data_dir(app_dir, data_dir)
                cmd, cwd = [sys.executable, "-m", "bot", "serve", "--port", str(port)], app_dir
                kind_env = env | {"DATA_DIR": str(data_dir), "PYTHONPATH": str(app_dir)}
            else:
                cmd, cwd = [sys.executable, "-m", "benchmarks.targets", kind, "--port", str(port)], ROOT
                kind_env = env
            servers[kind] = stack.enter_context(process(cmd, kind_env, cwd, work / f"{kind}.log"))
            if kind == "app":
                await wait_up(f"http://127.0.0.1:{port}/healthz", servers[kind])
            else:
                await asyncio.sleep(1.5)
            loads[kind] = Load(
                f"http://127.0.0.1:{port}/webhooks/line", fake_url, texts, kind, first_user=number * per_kind
            )
            await loads[kind].saturate(WARM_UP, CONCURRENCY)  # warm-up: models loaded, connections open
        runs: dict[str, list[Run]] = {kind: [] for kind in kinds}
        for round_ in range(ROUNDS):
            for kind in kinds:
                spy = None
                if profile is not None and round_ == 0:
                    spy = await asyncio.create_subprocess_exec(
                        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(servers[kind].pid),
                        "--format", "raw", "--rate", "200", "-o", str(profile / f"{kind}.txt"),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    await asyncio.sleep(1.0)
                runs[kind].append(await loads[kind].saturate(EVENTS, CONCURRENCY))
                if spy is not None:
                    spy.send_signal(2)
                    await spy.wait()
        results = []
        for kind in kinds:
            fixed = await loads[kind].fixed(RATE, SECONDS)
            peak, rss = memory(servers[kind].pid)
            results.append(Result(kind, runs[kind], fixed, peak, rss))
        return results


def table(results: list[Result]) -> list[str]:
    echo = next((r for r in results if r.kind == "echo"), None)
    lines = [
        f"| server | msg/s at saturation ({CONCURRENCY} concurrent), median of {ROUNDS} (range) | × echo bot (median of"
        " the rounds' ratios) | answered once / missing / duplicates / HTTP errors | p50 / p99 latency at saturation"
        " (ms) | p50 / p99 at 100 msg/s (ms) | answered once at 100 msg/s | peak RSS (MB) | RSS after (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rates = [run.rate for run in r.runs]
        ratio = (
            f"{statistics.median(a.rate / b.rate for a, b in zip(r.runs, echo.runs, strict=True)):.2f}"
            if echo and r.kind != "bare"
            else "–"
        )
        middle = sorted(r.runs, key=lambda run: run.rate)[len(r.runs) // 2]
        once = sum(run.answered_once for run in r.runs)
        missing = sum(run.missing for run in r.runs)
        duplicates = sum(run.duplicates for run in r.runs)
        errors = sum(run.http_errors for run in r.runs)
        f = r.fixed
        lines.append(
            f"| {KINDS[r.kind]} | {statistics.median(rates):.0f} ({min(rates):.0f}–{max(rates):.0f}) | {ratio} |"
            f" {once} / {missing} / {duplicates} / {errors} | {middle.p(0.5):.1f} / {middle.p(0.99):.1f} |"
            f" {f.p(0.5):.1f} / {f.p(0.99):.1f} | {f.answered_once} of {f.sent} | {r.peak_rss_mb:.0f} |"
            f" {r.rss_after_mb:.0f} |"
        )
    return lines


def run_all(app_dir: Path = ROOT, only: tuple[str, ...] = tuple(KINDS), profile: Path | None = None) -> list[Result]:
    texts = [item.text for item in load_eval(ROOT / "tests" / "data" / "eval")]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        results = asyncio.run(measure_all(only, app_dir, texts, profile or Path(tmp), profile))
    for result in results:
        rates = ", ".join(f"{run.rate:.0f}" for run in result.runs)
        fixed = f"{result.fixed.p(0.5):.1f}/{result.fixed.p(0.99):.1f}"
        print(f"{result.kind}: {rates} msg/s; 100 msg/s p50/p99 {fixed} ms; peak {result.peak_rss_mb:.0f} MB;"
              f" API calls {result.runs[-1].api_calls}", file=sys.stderr)  # fmt: skip
    return results


def section(lines: list[str], app_dir: Path = ROOT) -> None:
    """The throughput section of docs/benchmarks.md."""
    results = run_all(app_dir)
    lines += [
        "## LINE webhook throughput",
        "",
        f"{EVENTS:,} signed webhooks (one text event each, distinct users, the evaluation messages in turn),"
        f" {CONCURRENCY} at a time, to each server in turn, {ROUNDS} rounds (the machine is shared: turns spread"
        f" its other load over all servers alike); then {RATE:.0f} msg/s offered for {SECONDS:.0f} s to new users."
        " Each server in its own process, on uvicorn, talking to the fake LINE API (tests/fakes/line_api.py) in"
        " another process on loopback; latency is from sending the webhook to the fake accepting the reply. Our"
        " app runs as deployed (`python -m bot serve`, LOG_LEVEL=INFO, DATA_DIR filled by an earlier start).",
        "Command: `python -m benchmarks.webhook_load` (part of `make bench`).",
        "",
        *table(results),
        "",
        "Targets: ≥ 0.8 × the echo bot's msg/s, every event answered once, p99 ≤ 100 ms at 100 msg/s,"
        " peak RSS ≤ 200 MB. The echo bot does no matching at all and answers the webhook only after its reply.",
        "",
    ]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="checkout of the bot to run (default: this one)")
    parser.add_argument("--only", default=",".join(KINDS), help="servers to run, comma-separated")
    parser.add_argument("--profile", type=Path, help="record py-spy profiles (raw) of the saturation run here")
    args = parser.parse_args()
    results = run_all(args.app_dir.resolve(), tuple(args.only.split(",")), args.profile)
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()
