"""Hot reload: operators' edits to intents/ and translations/ go live without a restart.

`serve` watches both folders (watchfiles) and listens for SIGHUP. A change rebuilds the whole
assistant off the event loop, through the one loader (`load_content`, inside `build_assistant`),
and swaps the reference the app reads (`ContentReloader.current`): a message is answered wholly by
the old or wholly by the new content. A broken file keeps the last good content serving; the log
and /healthz (`health`) name its file and line until it is fixed. With several instances, each
watches its own copy and reloads by itself.

An edited example (or `not:` list, out-of-scope phrasing, synonym) needs the classifier retrained,
and the language detector retrained, which takes tens of seconds. So it goes live in two steps:
first an interim assistant, whose matcher has the new examples and the old classifier (an example as
taught is answered at once, see `IntentMatcher.exact`; everything else as before), then, once
trained (in a child process, `bot.core.training`), the same assistant whole. A newer edit meanwhile
wins: a training whose parts no longer serve is stopped, and trained parts are swapped in only while
the interim parts they replace still serve.

Translations: the server reads compiled catalogs (`.mo`), so it reloads when a `.mo` changes.
Poedit writes the `.mo` on save; after editing a `.po` by hand, `make compile-catalogs` (or
`make translations`) publishes it. A `.po` change alone is logged as waiting to be compiled.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from watchfiles import Change, awatch

from bot.core.assistant import Assistant
from bot.core.intents import ContentError
from bot.core.training import Superseded
from bot.daemon_thread import in_daemon_thread
from bot.metrics import Metrics

log = logging.getLogger(__name__)

CONTENT_SUFFIXES = (".yaml", ".yml", ".mo")
"""What the server reads: intents and their companions, compiled catalogs."""
DEBOUNCE_MS = 200
"""Changes this close together (an editor's save, `make translations`) make one reload."""


def is_content(change: Change, path: str) -> bool:
    """A watched change the server reads (editors' swap and backup files are not)."""
    name = Path(path).name
    return name.endswith((*CONTENT_SUFFIXES, ".po")) and not name.startswith((".", "#"))


def needs_reload(names: Sequence[str]) -> bool:
    """Whether changed files are read by the server (a `.po` is not until compiled)."""
    return any(name.endswith(CONTENT_SUFFIXES) for name in names)


def finish(assistant: Assistant) -> Assistant:
    """The interim assistant, whole (`Assistant.finish`)."""
    assert assistant.finish is not None
    return assistant.finish()


class ContentReloader:
    """Holds the assistant in use and replaces it, whole, when the content changes and is valid."""

    def __init__(
        self,
        build: Callable[[Assistant | None], Assistant],
        paths: Sequence[Path],
        metrics: Metrics | None = None,
        assistant: Assistant | None = None,
        train: Callable[[Assistant], Assistant] | None = None,
    ) -> None:
        """`build` makes an assistant from what is on disk now (raises ContentError when invalid), given the
        one in use, whose unchanged parts it may keep (None at start); it may be interim, which `train`
        makes whole (in a thread; default `finish`)."""
        self._build = build
        self._train = train or finish
        self._training: asyncio.Task[None] | None = None
        self._training_for: Assistant | None = None
        """The interim assistant whose training runs now."""
        self.paths = [p for p in paths if p.exists()]
        self.metrics = metrics or Metrics()
        self._assistant = assistant if assistant is not None else build(None)
        self._lock = asyncio.Lock()
        self.problems: list[str] = []
        """What is wrong on disk now (file:line: key: message); empty when the content served is the latest."""
        self.loaded_at = dt.datetime.now(dt.UTC)
        self.reloads = 0

    def current(self) -> Assistant:
        """The assistant to answer the next message with."""
        return self._assistant

    async def reload(self, reason: str = "requested") -> bool:
        """Rebuild from disk and swap in; False (the last good content kept) when the content is invalid."""
        async with self._lock:  # one rebuild at a time; a change during one triggers another
            log.info("content: reloading (%s)", reason)
            started = time.monotonic()
            try:
                assistant = await asyncio.to_thread(self._build, self._assistant)
            except ContentError as exc:
                return self._failed([str(p) for p in exc.problems])
            except Exception as exc:  # a broken catalog, an unreadable file: the same, keep serving
                return self._failed([f"{type(exc).__name__}: {exc}"])
            training = self._training_for
            if training is not None and (
                assistant.matcher is not training.matcher or assistant.policy.detector is not training.policy.detector
            ):
                training.superseded.set()  # its result would be dropped: stop it, train this one next
            self._assistant = assistant
            self.problems = []
            self.loaded_at = dt.datetime.now(dt.UTC)
            self.reloads += 1
            self.metrics.reloads.labels("ok").inc()
            self.metrics.content_ok.set(1)
            interim = " (interim: the classifier is being trained)" if assistant.interim else ""
            log.info(
                "content: reloaded in %.2f s, %d intents%s", time.monotonic() - started, len(assistant.catalog), interim
            )
            if assistant.interim and (self._training is None or self._training.done()):
                self._training = asyncio.create_task(self._complete(), name="content-train")
            return True

    async def _complete(self) -> None:
        """Train the interim assistant serving and swap it in whole, until the one serving is whole.

        One training at a time (two would share two cores with the answers): an edit during one waits
        for it. The result is swapped in only while the parts it replaces still serve: after an edited
        answer meanwhile, into the newer assistant; after an edited example, it is dropped.
        """
        while (interim := self._assistant).interim:
            self._training_for = interim
            try:
                whole = await in_daemon_thread(partial(self._train, interim), "content-train")
            except Superseded:
                log.info("content: a newer edit came during training; training it instead")
                continue
            except Exception:
                log.exception("content: training the classifier failed; the interim content keeps serving")
                return
            finally:
                self._training_for = None
            async with self._lock:  # not while a reload builds from the assistant serving
                current = self._assistant
                if current.matcher is interim.matcher and current.policy.detector is interim.policy.detector:
                    self._assistant = current.with_parts(whole)
                    log.info("content: the classifier of the new content is trained and serving")
                else:
                    log.info("content: a newer edit came during training; training again")

    def _failed(self, problems: list[str]) -> bool:
        self.problems = problems
        self.metrics.reloads.labels("failed").inc()
        self.metrics.content_ok.set(0)
        log.error("content: reload failed, the last good content keeps serving:\n%s", "\n".join(problems))
        return False

    def health(self) -> dict[str, Any]:
        """For /healthz: whether the content on disk is the content served, and if not, why."""
        return {
            "status": "error" if self.problems else "ok",
            "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
            "intents": len(self._assistant.catalog),
            "interim": self._assistant.interim,
            "problems": list(self.problems),
        }

    async def trained(self) -> None:
        """Wait until the content serving has its own classifier (tests, benchmarks)."""
        while self._training is not None and not self._training.done():
            await asyncio.shield(self._training)

    async def watch(self, stop: asyncio.Event | None = None) -> None:
        """Reload on every batch of content changes until `stop` is set (or the task is cancelled)."""
        if not self.paths:
            return
        async for changes in awatch(
            *self.paths, watch_filter=is_content, stop_event=stop, debounce=DEBOUNCE_MS, step=50, recursive=True
        ):
            names = sorted({Path(path).name for _, path in changes})
            if not needs_reload(names):
                log.info("content: %s changed; compile it (make compile-catalogs) to publish", ", ".join(names))
                continue
            await self.reload("changed: " + ", ".join(names[:5]))

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        """Watch the folders and listen for SIGHUP while inside the block (the app's lifespan)."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        task = asyncio.create_task(self.watch(stop), name="content-watch")
        pending: set[asyncio.Task[bool]] = set()

        def on_sighup() -> None:
            reload = asyncio.create_task(self.reload("SIGHUP"))
            pending.add(reload)
            reload.add_done_callback(pending.discard)

        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals off the main thread
            loop.add_signal_handler(signal.SIGHUP, on_sighup)
        try:
            yield self
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGHUP)
            stop.set()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for reload in list(pending):
                await reload
            if self._training is not None:  # the thread cannot be stopped; its result is not needed
                self._training.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._training
