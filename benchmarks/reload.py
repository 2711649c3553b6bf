"""Hot reload: how soon an edited intent is answered with, and whether any message is dropped meanwhile.

`python -m bot serve` runs on a copy of intents/ (DATA_DIR filled by an earlier start), talking to the
fake LINE API in its own process. Messages from new users ("Do I have to get the new card?") arrive
at 20 a second the whole time; each round appends a marker to that intent's English answer, and the
time is taken from just before the file is written to the first reply the fake accepts with the
marker (both on `time.monotonic`, one clock for every process). The reply that shows it was prepared
after the swap, so the figure includes the watcher's debounce (200 ms), the rebuild off the loop, and
up to one message interval (50 ms).

`python -m benchmarks reload` writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks.targets import bench_user
from benchmarks.webhook_load import SECRET, TOKEN, free_port, load_average, prepare_data_dir, process, wait_up, webhook
from bot.config import ROOT

QUESTION = "Do I have to get the new card?"
INTENT = "faq.mandatory.yaml"
ANCHOR = "you do not have to get one."
RATE = 20.0
ROUNDS = 5
USERS = 10_000


async def run(work: Path) -> tuple[list[float], dict[str, int]]:
    """Seconds from each edit to its first reply, and what happened to every message sent meanwhile."""
    intents = Path(shutil.copytree(ROOT / "intents", work / "intents"))
    data_dir = work / "data"
    prepare_data_dir(ROOT, data_dir)
    fake_port, port = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": fake,
           "DATA_DIR": str(data_dir), "INTENTS_DIR": str(intents), "PYTHONPATH": str(ROOT)}  # fmt: skip
    fake_cmd = [
        sys.executable,
        "-m",
        "benchmarks.targets",
        "fake-line",
        "--port",
        str(fake_port),
        "--users",
        str(USERS),
    ]
    serve_cmd = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    with (
        process(fake_cmd, env, ROOT, work / "fake.log"),
        process(serve_cmd, env, ROOT, work / "serve.log") as server,
    ):
        await wait_up(fake + "/bench/deliveries", server)
        await wait_up(f"http://127.0.0.1:{port}/healthz", server)
        async with aiohttp.ClientSession() as session:
            sent: list[str] = []
            statuses: list[int] = []
            stop = asyncio.Event()

            async def one(n: int) -> None:
                raw, signature, token = webhook(bench_user(n), QUESTION)
                sent.append(token)
                headers = {"content-type": "application/json", "x-line-signature": signature}
                async with session.post(f"http://127.0.0.1:{port}/webhooks/line", data=raw, headers=headers) as r:
                    statuses.append(r.status)

            async def traffic() -> None:
                started, tasks = time.monotonic(), []
                for n in range(USERS):
                    if stop.is_set():
                        break
                    await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
                    tasks.append(asyncio.create_task(one(n)))
                await asyncio.gather(*tasks)

            async def deliveries() -> list[dict[str, object]]:
                async with session.get(fake + "/bench/deliveries?texts=1") as response:
                    found: list[dict[str, object]] = (await response.json())["deliveries"]
                    return found

            sender = asyncio.create_task(traffic())
            await asyncio.sleep(3.0)
            latencies = []
            path = intents / INTENT
            for round_ in range(1, ROUNDS + 1):
                marker = f"[edit {round_}]"
                text = path.read_text(encoding="utf-8")
                edited = (
                    text.replace(ANCHOR, f"{ANCHOR} {marker}")
                    if round_ == 1
                    else text.replace(f"[edit {round_ - 1}]", marker)
                )
                written = time.monotonic()
                path.write_text(edited, encoding="utf-8")
                async with asyncio.timeout(60):
                    for _ in itertools.count():
                        seen = [d["at"] for d in await deliveries() if marker in str(d["text"])]
                        if seen:
                            latencies.append(min(float(str(at)) for at in seen) - written)
                            break
                        await asyncio.sleep(0.05)
                await asyncio.sleep(2.0)
            stop.set()
            await sender
            async with asyncio.timeout(60):
                for _ in itertools.count():
                    if len({d["to"] for d in await deliveries()} & set(sent)) >= len(sent):
                        break
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            counts: dict[str, int] = {}
            for d in await deliveries():
                counts[str(d["to"])] = counts.get(str(d["to"]), 0) + 1
    outcome = {
        "sent": len(sent),
        "http_200": statuses.count(200),
        "answered_once": sum(1 for token in sent if counts.get(token) == 1),
        "missing": sum(1 for token in sent if token not in counts),
        "duplicates": sum(max(0, counts.get(token, 0) - 1) for token in sent),
    }
    return latencies, outcome


def section(lines: list[str]) -> None:
    """The hot reload section of docs/benchmarks.md."""
    before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        latencies, outcome = asyncio.run(run(Path(tmp)))
    after = load_average()
    lines += [
        "## Hot reload",
        "",
        f"An intent's English answer edited {ROUNDS} times under `python -m bot serve` (the real content, DATA_DIR"
        f" filled by an earlier start) while residents' messages arrive at {RATE:.0f} a second; time from just before"
        " the file is written to the first reply the fake LINE API accepts with the edit (watcher debounce, rebuild"
        " off the loop, swap; at most one message interval late). Target: within 2 s, no message dropped.",
        f"Load average (1 / 5 min) before {before}, after {after}.",
        "Command: `python -m benchmarks reload` (part of `make bench`).",
        "",
        "| edit | seconds to the first reply with it |",
        "|---|---|",
        *(f"| {n} | {seconds:.2f} |" for n, seconds in enumerate(latencies, 1)),
        f"| median / worst | {statistics.median(latencies):.2f} / {max(latencies):.2f} |",
        "",
        f"Messages sent meanwhile: {outcome['sent']}; acknowledged (200): {outcome['http_200']}; answered once:"
        f" {outcome['answered_once']}; missing: {outcome['missing']}; answered twice: {outcome['duplicates']}.",
        "",
    ]


def main() -> None:
    lines: list[str] = []
    section(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
