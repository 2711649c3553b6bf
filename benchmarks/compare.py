"""Before/after on the LINE webhook load: several checkouts of the bot beside the echo bot, loaded in turns.

The machine's speed moves by half between minutes (bare Starlette took 4,800 to 8,500 req/s
within one `make bench`), so a change is judged against the code before it in the same run,
round after round. The steadiest figure is the server's CPU time per message: the median of two
servers of the same code differed by 0.01 ms where their rates differed by 5 %.

`python -m benchmarks.compare [--rounds N] [--events N] DIR[|NAME=VALUE,...] ...`: each DIR is a
checkout of the bot (its translations compiled; `git worktree add` and copy the .mo files and
DATA_DIR), optionally with environment variables for its server (`/tmp/a|MALLOC_ARENA_MAX=1`).
Prints each round, then the median rate, CPU per message and ratio to the echo bot of each.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import webhook_load as load
from bot.core.evaluation import load_eval


def parse(spec: str) -> tuple[Path, dict[str, str]]:
    """A checkout and the environment of its server, from `DIR[|NAME=VALUE,...]`."""
    where, _, settings = spec.partition("|")
    env = dict(item.split("=", 1) for item in settings.split(",") if item)
    return Path(where).resolve(), env


async def compare(specs: list[str], rounds: int, events: int) -> None:
    texts = [item.text for item in load_eval(load.ROOT / "tests" / "data" / "eval")]
    work = Path(tempfile.mkdtemp(prefix="compare-"))
    kinds = ["echo", *(f"{n}:{spec}" for n, spec in enumerate(specs))]
    per_kind = load.WARM_UP + events * rounds + 10
    with contextlib.ExitStack() as stack:
        fake_url, env = await load.start_fake_line(stack, work, per_kind, len(kinds))
        pids: dict[str, int] = {}
        loads: dict[str, load.Load] = {}
        for number, kind in enumerate(kinds):
            port = load.free_port()
            if kind == "echo":
                cmd = [sys.executable, "-m", "benchmarks.targets", "echo", "--port", str(port)]
                server = stack.enter_context(load.process(cmd, env, load.ROOT, work / "echo.log"))
                await asyncio.sleep(1.5)
            else:
                app_dir, extra = parse(specs[number - 1])
                data_dir = work / f"data-{number}"
                load.prepare_data_dir(app_dir, data_dir)
                cmd = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
                server_env = env | extra | {"DATA_DIR": str(data_dir), "PYTHONPATH": str(app_dir)}
                server = stack.enter_context(load.process(cmd, server_env, app_dir, work / f"app-{number}.log"))
                await load.wait_up(f"http://127.0.0.1:{port}/healthz", server)
            pids[kind] = server.pid
            target = f"http://127.0.0.1:{port}/webhooks/line"
            loads[kind] = load.Load([target], fake_url, texts, "app", first_user=number * per_kind)
            await loads[kind].saturate(load.WARM_UP, load.CONCURRENCY)
        runs: dict[str, list[load.Run]] = {kind: [] for kind in kinds}
        for round_ in range(rounds):
            apps = kinds[1:] if round_ % 2 == 0 else kinds[:0:-1]  # every other round the other way round
            for kind in ["echo", *apps]:
                before = load.cpu_seconds([pids[kind]])
                run = await loads[kind].saturate(events, load.CONCURRENCY)
                run.cpu_seconds = load.cpu_seconds([pids[kind]]) - before
                runs[kind].append(run)
            print(f"round {round_ + 1}: " + " | ".join(
                f"{kind} {runs[kind][-1].rate:.0f}/s {1000 * runs[kind][-1].cpu_seconds / events:.2f} ms"
                for kind in kinds
            ), flush=True)  # fmt: skip
        for kind in kinds:
            ratio = statistics.median(a.rate / b.rate for a, b in zip(runs[kind], runs["echo"], strict=True))
            cpu = statistics.median(1000 * run.cpu_seconds / run.sent for run in runs[kind])
            lost = sum(run.missing + run.duplicates for run in runs[kind])
            peak, after = load.memory(pids[kind])
            rate = statistics.median(run.rate for run in runs[kind])
            print(f"{kind}: {rate:.0f} msg/s, CPU {cpu:.2f} ms a message, {ratio:.2f} x echo, missing or twice"
                  f" {lost}, peak RSS {peak:.0f} MB, after {after:.0f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="+", metavar="DIR[|NAME=VALUE,...]")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--events", type=int, default=load.EVENTS)
    args = parser.parse_args()
    asyncio.run(compare(args.specs, args.rounds, args.events))


if __name__ == "__main__":
    main()
