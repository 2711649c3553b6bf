"""LINE webhook throughput: our app (SQLite store; Redis store on one and on two instances) beside
the SDK's own echo bot and bare Starlette, all up at once, loaded in turns.

Every server talks to one fake LINE API (its own process, on loopback). The load is 2,000 signed
webhooks, one text event each from a distinct user, 32 at a time (saturation), to each server in
turn, `ROUNDS` rounds, the ratio to the echo bot taken within each round; then 100 msg/s for 30 s
to each (fixed offered load, new users again). With two instances the requests alternate between
them, as a round-robin load balancer would send them. Reply latency is from sending the webhook to
the fake accepting the reply, both on `time.monotonic` (one clock for every process). Peak RSS is
VmHWM of the server process after all of it (its start-up included: DATA_DIR was filled by an
earlier start); with two instances, the larger of the two. Redis is a redis-server of the run's
own, with AOF (fsync every second) as docs/operations.md recommends.

`python -m benchmarks.webhook_load [--app-dir DIR] [--only app,redis,redis2,echo,bare] [--profile DIR]`
runs it alone and prints the table (DIR: another checkout of the bot, for before/after figures;
`--profile`: py-spy records of each server's third saturation round, raw, for flamegraph.pl).
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

from benchmarks.targets import DATA_HOST, bench_user
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
    "app": "tokutei-bot, SQLite store (DATA_DIR)",
    "redis": "tokutei-bot, Redis store, 1 instance",
    "redis2": "tokutei-bot, Redis store, 2 instances",
    "echo": "line-bot-sdk async echo bot",
    "bare": "bare Starlette (no reply)",
}
PROFILED_ROUND = 2
"""The round py-spy records: by then the rich menus are drawn and the caches warm."""
INSTANCES = {"app": 1, "redis": 1, "redis2": 2}
"""Our app's kinds, and how many instances each runs."""


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
    cpu_seconds: float = 0.0
    """CPU time (user + system) the server processes used during the run."""

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


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far (/proc/PID/stat, in clock ticks)."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


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

    def __init__(self, targets: list[str], fake: str, texts: list[str], kind: str, first_user: int = 0) -> None:
        self.targets = targets
        self.sent_count = 0
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
        target = self.targets[self.sent_count % len(self.targets)]  # round robin, as a load balancer
        self.sent_count += 1
        try:
            async with session.post(target, data=raw, headers=headers) as response:
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


async def start_fake_line(
    stack: contextlib.ExitStack, work: Path, users: int, kinds: int
) -> tuple[str, dict[str, str]]:
    """The fake LINE API in its own process (until `stack` closes), for `kinds` servers of `users` users each:
    its URL, and the environment that points a server at it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN,
           "LINE_API_BASE_URL": url, "LINE_DATA_API_BASE_URL": url + DATA_HOST, "PYTHONPATH": str(ROOT)}  # fmt: skip
    cmd = [sys.executable, "-m", "benchmarks.targets", "fake-line", "--port", str(port),
           "--users", str(users), "--kinds", str(kinds)]  # fmt: skip
    fake = stack.enter_context(process(cmd, env, ROOT, work / "fake.log"))
    await wait_up(url + "/bench/deliveries", fake)
    return url, env


async def measure_all(
    kinds: tuple[str, ...], app_dir: Path, texts: list[str], work: Path, profile: Path | None = None,
    redis_url: str | None = None,
) -> list[Result]:  # fmt: skip
    """Start the fake API and every server at once, then load them in turns, `ROUNDS` times, and read their memory.

    Taking turns, round after round, spreads whatever else the machine is doing over every server
    alike; the ratio to the echo bot is taken within each round. The servers not being loaded stay
    idle meanwhile (ours tend their inbox every few seconds).
    """
    per_kind = WARM_UP + EVENTS * ROUNDS + int(RATE * SECONDS) + 10
    with contextlib.ExitStack() as stack:
        fake_url, env = await start_fake_line(stack, work, per_kind, len(kinds))
        servers: dict[str, list[subprocess.Popen[bytes]]] = {}
        loads: dict[str, Load] = {}
        for number, kind in enumerate(kinds):
            ports = [free_port() for _ in range(INSTANCES.get(kind, 1))]
            if kind in INSTANCES:
                data_dir = work / f"data-{kind}"
                prepare_data_dir(app_dir, data_dir)
                cmds = [[sys.executable, "-m", "bot", "serve", "--port", str(port)] for port in ports]
                cwd = app_dir
                kind_env = env | {"DATA_DIR": str(data_dir), "PYTHONPATH": str(app_dir)}
                if kind != "app":
                    if redis_url is None:
                        raise ValueError(f"{kind} needs a Redis")
                    kind_env |= {"REDIS_URL": redis_url, "REDIS_PREFIX": f"bench-{kind}-{uuid.uuid4().hex[:8]}:",
                                 "USER_ID_SECRET": "bench-user-id-secret-0123456789"}  # fmt: skip
            else:
                cmds = [[sys.executable, "-m", "benchmarks.targets", kind, "--port", str(ports[0])]]
                cwd, kind_env = ROOT, env
            servers[kind] = [
                stack.enter_context(process(cmd, kind_env | {"PORT": str(port)}, cwd, work / f"{kind}-{n}.log"))
                for n, (cmd, port) in enumerate(zip(cmds, ports, strict=True))
            ]
            for server, port in zip(servers[kind], ports, strict=True):
                if kind in INSTANCES:
                    await wait_up(f"http://127.0.0.1:{port}/healthz", server)
                else:
                    await asyncio.sleep(1.5)
            targets = [f"http://127.0.0.1:{port}/webhooks/line" for port in ports]
            loads[kind] = Load(targets, fake_url, texts, kind, first_user=number * per_kind)
            await loads[kind].saturate(WARM_UP, CONCURRENCY)  # warm-up: models loaded, connections open
        runs: dict[str, list[Run]] = {kind: [] for kind in kinds}
        for round_ in range(ROUNDS):
            for kind in kinds:
                spy = None
                if profile is not None and round_ == PROFILED_ROUND:
                    spy = await asyncio.create_subprocess_exec(
                        str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(servers[kind][0].pid),
                        "--format", "raw", "--rate", "200", "-o", str(profile / f"{kind}.txt"),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    await asyncio.sleep(1.0)
                pids = [server.pid for server in servers[kind]]
                before = cpu_seconds(pids)
                runs[kind].append(await loads[kind].saturate(EVENTS, CONCURRENCY))
                runs[kind][-1].cpu_seconds = cpu_seconds(pids) - before
                if spy is not None:
                    spy.send_signal(2)
                    await spy.wait()
                run = runs[kind][-1]
                cpu = 1000 * run.cpu_seconds / run.sent
                print(f"round {round_ + 1}: {kind} {run.rate:.0f} msg/s, {cpu:.2f} ms CPU a message", file=sys.stderr)
        results = []
        for kind in kinds:
            fixed = await loads[kind].fixed(RATE, SECONDS)
            memories = [memory(server.pid) for server in servers[kind]]
            results.append(Result(kind, runs[kind], fixed, max(m[0] for m in memories), max(m[1] for m in memories)))
        return results


def table(results: list[Result]) -> list[str]:
    echo = next((r for r in results if r.kind == "echo"), None)
    lines = [
        f"| server | msg/s at saturation ({CONCURRENCY} concurrent), median of {ROUNDS} (range) | × echo bot (median of"
        " the rounds' ratios) | answered once / missing / duplicates / HTTP errors (all rounds) | p50 / p99 latency"
        " at saturation, median round (ms) | p50 / p99 at 100 msg/s (ms) | answered once / missing / duplicates at"
        " 100 msg/s | peak RSS (MB) | RSS after (MB) | server CPU per message at saturation, median round (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|",
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
            f" {f.p(0.5):.1f} / {f.p(0.99):.1f} | {f.answered_once} / {f.missing} / {f.duplicates} of {f.sent} |"
            f" {r.peak_rss_mb:.0f} | {r.rss_after_mb:.0f} |"
            f" {statistics.median(1000 * run.cpu_seconds / run.sent for run in r.runs):.2f} |"
        )
    return lines


def run_all(app_dir: Path = ROOT, only: tuple[str, ...] = tuple(KINDS), profile: Path | None = None) -> list[Result]:
    from tests.redis_server import redis_server

    texts = [item.text for item in load_eval(ROOT / "tests" / "data" / "eval")]
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        redis_url = None
        if {"redis", "redis2"} & set(only):
            (Path(tmp) / "redis").mkdir()
            redis_url = stack.enter_context(redis_server(Path(tmp) / "redis", append_only=True))
        results = asyncio.run(measure_all(only, app_dir, texts, profile or Path(tmp), profile, redis_url))
    for result in results:
        rates = ", ".join(f"{run.rate:.0f}" for run in result.runs)
        fixed = f"{result.fixed.p(0.5):.1f}/{result.fixed.p(0.99):.1f}"
        print(f"{result.kind}: {rates} msg/s; 100 msg/s p50/p99 {fixed} ms; peak {result.peak_rss_mb:.0f} MB;"
              f" API calls {result.runs[-1].api_calls}", file=sys.stderr)  # fmt: skip
    return results


def load_average() -> str:
    """The machine's 1- and 5-minute load averages (other work on it weighs on the figures)."""
    one, five = Path("/proc/loadavg").read_text().split()[:2]
    return f"{one} / {five}"


def section(lines: list[str], app_dir: Path = ROOT) -> None:
    """The throughput section of docs/benchmarks.md."""
    before = load_average()
    results = run_all(app_dir)
    after = load_average()
    lines += [
        "## LINE webhook throughput",
        "",
        f"{EVENTS:,} signed webhooks (one text event each, distinct users, the evaluation messages in turn),"
        f" {CONCURRENCY} at a time, to each server in turn, {ROUNDS} rounds (every server is up all along; the"
        " machine is shared: turns spread its other load over all servers alike, and the ratio to the echo bot is"
        f" taken within each round); then {RATE:.0f} msg/s offered for {SECONDS:.0f} s to each, new users again."
        " Each server in its own process, on uvicorn, talking to one fake LINE API (tests/fakes/line_api.py) in"
        " another process on loopback; latency is from sending the webhook to the fake accepting the reply. Our"
        " app runs as deployed (`python -m bot serve`, LOG_LEVEL=INFO, DATA_DIR filled by an earlier start): with"
        " the SQLite store in DATA_DIR, and with a Redis store (a redis-server of the run's own, AOF with fsync"
        " every second) on one instance and on two, the requests alternating between them as a round-robin load"
        " balancer sends them. Every event goes through the durable inbox (kept before the 200, marked as being"
        " sent, done after the reply) and the pipeline (rate limit and settings, counts).",
        f"Load average of the machine (1 / 5 min) before the run {before}, after it {after}: the load"
        " generator, the fake LINE API, redis-server and the servers share its cores, so two instances"
        " cannot show more than what the cores left to them allow.",
        "Command: `python -m benchmarks throughput` (part of `make bench`; `python -m benchmarks.webhook_load"
        " [--only KINDS] [--profile DIR]` prints the table alone).",
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
