"""Server instances as production runs them: `python -m bot serve` processes on free loopback ports.

For the tests (and the benchmark) that need several instances on one store, or one to kill.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx

from bot.config import ROOT
from tests.fakes.server import free_port


@dataclass
class Instance:
    """One `python -m bot serve` process; its stderr (the logs) goes to `log`."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        """Everything it logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing finished, nothing flushed."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not gone within 40 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, env: Mapping[str, str], workdir: Path) -> Instance:
    """Start an instance (not waiting for it: `wait_ready`)."""
    port = free_port()
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(port)],
            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=out,
        )  # fmt: skip
    return Instance(name, port, process, log)


def wait_ready(instance: Instance, within: float = 120.0) -> None:
    """Wait until its /healthz says everything is ok (adapters connected, store open, content loaded)."""
    deadline = time.monotonic() + within
    with httpx.Client(base_url=instance.url, timeout=5) as http:
        while time.monotonic() < deadline:
            if instance.process.poll() is not None:
                raise RuntimeError(
                    f"{instance.name} exited ({instance.process.returncode}):\n{instance.logs()[-3000:]}"
                )
            with contextlib.suppress(httpx.TransportError):
                if http.get("/healthz").json()["status"] == "ok":
                    return
            time.sleep(0.1)
    raise RuntimeError(f"{instance.name} not ready within {within:.0f} s:\n{instance.logs()[-3000:]}")


@contextlib.contextmanager
def instances(names: list[str], env: Mapping[str, str], workdir: Path) -> Iterator[list[Instance]]:
    """Start several instances at once, wait until all are ready; stop them on leaving."""
    started = [start(name, env, workdir) for name in names]
    try:
        for instance in started:
            wait_ready(instance)
        yield started
    finally:
        for instance in started:
            instance.stop()
