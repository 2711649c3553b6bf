"""Hot reload: how soon an edited intent is answered with, and whether any message is dropped meanwhile.

`python -m bot serve` runs on a copy of intents/ (DATA_DIR filled by an earlier start), talking to the
fake LINE API in its own process. Messages from new users arrive at 20 a second the whole time.
Rounds alternate two edits of one intent: a marker appended to its English answer (the matcher and
the language detector are kept), and a new example (an interim matcher with the new examples answers
it as taught while the classifier and the detector are retrained in a child process), the messages
then being that example. The time is taken from just before the file is written to the first reply the fake accepts
that shows the edit (both on `time.monotonic`, one clock for every process); that reply was prepared
after the swap, so the figure includes the watcher's debounce (200 ms), the rebuild off the loop and
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

from benchmarks.targets import DATA_HOST, bench_user
from benchmarks.webhook_load import SECRET, TOKEN, free_port, load_average, prepare_data_dir, process, wait_up, webhook
from bot.config import ROOT

QUESTION = "Do I have to get the new card?"
INTENT = "faq.mandatory.yaml"
ANCHOR = "you do not have to get one."
"""In that intent's English answer: a reply holding it is that intent's answer."""
PROBES = ("zorkmid plover", "gnusto rezrov", "frobozz quux")
"""New examples, one a round; each gets the fallback before its edit (checked with `python -m bot ask`)."""
RATE = 20.0
ROUNDS = 6
USERS = 10_000


def answer_edit(text: str, round_: int) -> tuple[str, str]:
    """The intent with a marker in its English answer; the marker (what the reply then shows)."""
    marker = f"[edit {round_}]"
    if "[edit " in text:
        start = text.index("[edit ")
        return text[:start] + marker + text[text.index("]", start) + 1 :], marker
    return text.replace(ANCHOR, f"{ANCHOR} {marker}"), marker


def example_edit(text: str, probe: str) -> str:
    """The intent with `probe` as a new English example."""
    at = text.index("\n  en:\n", text.index("\nexamples:")) + len("\n  en:\n")
    return text[:at] + f"  - {probe}\n" + text[at:]


def percentiles(seconds: list[float]) -> str:
    """Median, 95th percentile and worst, in milliseconds."""
    if not seconds:
        return "–"
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{1000 * statistics.median(ordered):.0f} / {1000 * p95:.0f} / {1000 * ordered[-1]:.0f}"


async def run(work: Path) -> tuple[list[tuple[str, float]], dict[str, int], dict[str, list[float]]]:
    """(kind of edit, seconds to its first reply) per round, what happened to every message meanwhile, and
    each message's answer time (webhook sent → reply accepted by the fake), by whether a classifier was
    being trained (the content interim) when it was sent."""
    intents = Path(shutil.copytree(ROOT / "intents", work / "intents"))
    data_dir = work / "data"
    prepare_data_dir(ROOT, data_dir)
    fake_port, port = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    env = {**os.environ, "LINE_CHANNEL_SECRET": SECRET, "LINE_CHANNEL_ACCESS_TOKEN": TOKEN, "LINE_API_BASE_URL": fake,
           "LINE_DATA_API_BASE_URL": fake + DATA_HOST, "DATA_DIR": str(data_dir), "INTENTS_DIR": str(intents),
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    fake_cmd = [sys.executable, "-m", "benchmarks.targets", "fake-line", "--port", str(fake_port),
                "--users", str(USERS)]  # fmt: skip
    serve_cmd = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    with (
        process(fake_cmd, env, ROOT, work / "fake.log"),
        process(serve_cmd, env, ROOT, work / "serve.log") as server,
    ):
        await wait_up(fake + "/bench/deliveries", server)
        await wait_up(f"http://127.0.0.1:{port}/healthz", server)
        async with aiohttp.ClientSession() as session:
            asked: dict[str, str] = {}  # reply token: the message
            sent_at: dict[str, float] = {}
            interim_since: list[tuple[float, bool]] = []  # (time, content interim) as /healthz said
            statuses: list[int] = []
            current = [QUESTION]
            stop = asyncio.Event()

            async def one(n: int) -> None:
                text = current[0]
                raw, signature, token = webhook(bench_user(n), text)
                asked[token] = text
                sent_at[token] = time.monotonic()
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

            async def health() -> None:
                while not stop.is_set():
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        interim = bool((await response.json())["content"].get("interim"))
                    if not interim_since or interim_since[-1][1] != interim:
                        interim_since.append((time.monotonic(), interim))
                    await asyncio.sleep(0.1)

            sender = asyncio.create_task(traffic())
            watcher = asyncio.create_task(health())
            await asyncio.sleep(3.0)
            latencies = []
            path = intents / INTENT
            probes = iter(PROBES)
            for round_ in range(1, ROUNDS + 1):
                text = path.read_text(encoding="utf-8")
                if round_ % 2:
                    kind = "answer"
                    edited, marker = answer_edit(text, round_)

                    def shows(d: dict[str, object], marker: str = marker) -> bool:
                        return marker in str(d["text"])
                else:
                    kind = "example"
                    probe = next(probes)
                    current[0] = probe
                    await asyncio.sleep(1.0)  # the probe's fallback replies first (checked below)
                    edited = example_edit(text, probe)

                    def shows(d: dict[str, object], probe: str = probe) -> bool:
                        return asked.get(str(d["to"])) == probe and ANCHOR in str(d["text"])

                    if any(shows(d) for d in await deliveries()):
                        raise RuntimeError(f"{probe!r} was answered by the intent before the edit")
                written = time.monotonic()
                path.write_text(edited, encoding="utf-8")
                async with asyncio.timeout(60):
                    for _ in itertools.count():
                        seen = [float(str(d["at"])) for d in await deliveries() if shows(d)]
                        if seen:
                            latencies.append((kind, min(seen) - written))
                            break
                        await asyncio.sleep(0.05)
                current[0] = QUESTION
                await asyncio.sleep(2.0)
            stop.set()
            await sender
            await watcher
            async with asyncio.timeout(60):
                for _ in itertools.count():
                    if len({d["to"] for d in await deliveries()} & set(asked)) >= len(asked):
                        break
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
            counts: dict[str, int] = {}
            first_at: dict[str, float] = {}
            for d in await deliveries():
                counts[str(d["to"])] = counts.get(str(d["to"]), 0) + 1
                first_at.setdefault(str(d["to"]), float(str(d["at"])))
    answer_times: dict[str, list[float]] = {"whole": [], "interim": []}
    for token, at in sent_at.items():
        if token in first_at:
            interim = next((state for t, state in reversed(interim_since) if t <= at), False)
            answer_times["interim" if interim else "whole"].append(first_at[token] - at)
    outcome = {
        "sent": len(asked),
        "http_200": statuses.count(200),
        "answered_once": sum(1 for token in asked if counts.get(token) == 1),
        "missing": sum(1 for token in asked if token not in counts),
        "duplicates": sum(max(0, counts.get(token, 0) - 1) for token in asked),
    }
    return latencies, outcome, answer_times


def section(lines: list[str]) -> None:
    """The hot reload section of docs/benchmarks.md."""
    before = load_average()
    with tempfile.TemporaryDirectory() as tmp:
        latencies, outcome, answer_times = asyncio.run(run(Path(tmp)))
    after = load_average()
    lines += [
        "## Hot reload",
        "",
        f"One intent edited {ROUNDS} times under `python -m bot serve` (the real content, DATA_DIR filled by an earlier"
        f" start) while residents' messages arrive at {RATE:.0f} a second: its English answer (the matcher and the"
        " language detector are kept), or a new example (the messages are then that example: an interim content"
        " answers it as taught, while the classifier and the language detector are retrained in a child process). Time"
        " from just before the file is written to the first reply the fake LINE API accepts that shows the edit"
        " (watcher debounce, rebuild off the loop, swap; at most one message interval late). Target: within 2 s,"
        " no message dropped.",
        f"Load average (1 / 5 min) before {before}, after {after}.",
        "Command: `python -m benchmarks reload` (part of `make bench`).",
        "",
        "| edit | what changed | seconds to the first reply with it |",
        "|---|---|---|",
        *(f"| {n} | {kind} | {seconds:.2f} |" for n, (kind, seconds) in enumerate(latencies, 1)),
        *(
            f"| median / worst | {kind} | {statistics.median(of):.2f} / {max(of):.2f} |"
            for kind in ("answer", "example")
            if (of := [seconds for k, seconds in latencies if k == kind])
        ),
        "",
        f"Messages sent meanwhile: {outcome['sent']}; acknowledged (200): {outcome['http_200']}; answered once:"
        f" {outcome['answered_once']}; missing: {outcome['missing']}; answered twice: {outcome['duplicates']}.",
        "",
        "Answer time of those messages (webhook sent → reply accepted by the fake), median / 95th percentile / worst,"
        " in ms: while the content was whole, " + percentiles(answer_times["whole"]) + f" ({len(answer_times['whole'])}"
        " messages); while a classifier trained in the background (`/healthz` content.interim), "
        + percentiles(answer_times["interim"])
        + f" ({len(answer_times['interim'])} messages).",
        "",
    ]


def main() -> None:
    lines: list[str] = []
    section(lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
