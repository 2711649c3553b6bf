"""`python -m bot …`: chat, ask, furigana, intents check|test|export, report unanswered|usage, serve.

Exit codes: 0 fine, 1 a check failed (evaluation floors, --strict coverage), 2 invalid intents or
usage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import __version__
from bot.config import ROOT, Settings
from bot.core.intents import ContentError
from bot.core.languages import LANGS
from bot.core.yaml_lines import YamlError
from bot.logs import configure_logging
from bot.store.base import StoreError

if TYPE_CHECKING:
    from bot.store import Store

DATA_DIR = ROOT / "tests" / "data"
EVAL_SETS = (
    ("evaluation set (tests/data/eval: tuned on)", DATA_DIR / "eval"),
    ("official FAQ questions (tests/data/official_faq.yaml)", DATA_DIR / "official_faq.yaml"),
    ("held-out set (tests/data/holdout: never tuned on)", DATA_DIR / "holdout"),
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        return int(args.run(args, settings))
    except (ContentError, YamlError) as exc:
        print(f"invalid content:\n{exc}", file=sys.stderr)
        return 2
    except StoreError as exc:  # one line: what, where, how to fix it
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `… | head`: the reader has gone, nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="tokutei-bot: the Specific Residence Card assistant"
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(metavar="COMMAND")

    chat = sub.add_parser("chat", help="chat in the console")
    chat.add_argument("--lang", choices=LANGS, help="reply language (default: detected)")
    chat.set_defaults(run=_chat)

    ask = sub.add_parser("ask", help="answer TEXT, or each line of standard input as a new user")
    ask.add_argument("--json", action="store_true", help="one JSON object per line")
    ask.add_argument("--lang", choices=LANGS, help="reply language (default: detected)")
    ask.add_argument("text", nargs="*")
    ask.set_defaults(run=_ask)

    furi = sub.add_parser("furigana", help="add readings to Japanese TEXT, or to each line of standard input")
    furi.add_argument("--format", choices=("inline", "html", "kana"), default="inline")
    furi.add_argument("text", nargs="*")
    furi.set_defaults(run=_furigana)

    intents = sub.add_parser("intents", help="check, test or export the intents")
    isub = intents.add_subparsers(metavar="ACTION")
    check = isub.add_parser("check", help="validate the content, check its rules, show translation coverage")
    check.add_argument("--strict", action="store_true", help="also exit 1 while any language misses anything")
    check.set_defaults(run=_check)
    test = isub.add_parser("test", help="accuracy on the evaluation, official-FAQ and held-out sets")
    test.add_argument("--eval-dir", type=Path, action="append", help="evaluate this set instead (repeatable)")
    test.add_argument("--quiet", action="store_true", help="figures only, no misses")
    test.set_defaults(run=_test)
    export = isub.add_parser("export", help="print every intent as JSON")
    export.set_defaults(run=_export)

    report = sub.add_parser("report", help="the operators' reports, from the store the server writes")
    rsub = report.add_subparsers(metavar="REPORT")
    unanswered = rsub.add_parser("unanswered", help="questions not answered surely, grouped, most frequent first")
    unanswered.add_argument("--lang", choices=LANGS, help="only questions answered in this language")
    usage = rsub.add_parser("usage", help="messages per day, platform, language and outcome")
    for command, run in ((unanswered, _report_unanswered), (usage, _report_usage)):
        command.add_argument("--since", type=_day, metavar="DATE", help="from this day (YYYY-MM-DD, Japan time)")
        command.add_argument("--format", choices=("table", "csv", "json"), default="table")
        command.set_defaults(run=run)

    serve = sub.add_parser("serve", help="run the web app (web chat, webhooks, /healthz)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--telegram-polling", action="store_true", help="poll Telegram instead of a webhook")
    serve.set_defaults(run=_serve)
    return parser


def _assistant(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.core.factory import build_assistant

    return build_assistant(
        settings.intents_dir, settings.translations_dir, thresholds=settings.thresholds, cache_dir=settings.data_dir
    )


def _stdin_lines() -> TextIO:
    # Invalid UTF-8 must not stop a batch: undecodable bytes become U+FFFD and are cleaned later.
    return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")


def _chat(args: argparse.Namespace, settings: Settings) -> int:
    from bot.adapters.console import run_console

    return run_console(_assistant(settings), lang=args.lang)


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from bot.adapters.console import ask_lines

    assistant = _assistant(settings)
    lines = [" ".join(args.text)] if args.text else _stdin_lines()
    ask_lines(assistant, lines, sys.stdout, as_json=args.json, lang=args.lang)
    return 0


def _furigana(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.content import load_content
    from bot.core.furigana import Furigana

    furigana = Furigana(load_content(settings.intents_dir).readings)
    lines = [" ".join(args.text)] if args.text else _stdin_lines()
    for line in lines:
        print(furigana.render(line.rstrip("\n"), args.format))
    return 0


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.cldr import TABLE as CLDR_TABLE
    from bot.core.cldr import stale_languages
    from bot.core.content import load_content
    from bot.core.content_checks import Finding, check_content
    from bot.core.coverage import coverage_table
    from bot.core.i18n import Texts

    content = load_content(settings.intents_dir)
    print(f"{len(content.catalog)} intents OK in {settings.intents_dir}")
    texts = Texts(settings.translations_dir, content.start_date)
    _, lines = coverage_table(content.catalog, texts)
    print("\n".join(lines))
    findings = check_content(content, texts)
    errors = [f for f in findings if f.level == "error"]
    stale = stale_languages()
    if stale:  # a Babel upgrade or a new language: the bot would show other names or dates than Babel's
        stale_message = f"{', '.join(stale)} differ from the installed Babel: run python -m bot.core.cldr"
        errors.append(Finding("error", str(CLDR_TABLE), stale_message))
    strict = [f for f in findings if f.level == "strict"]
    for finding in errors:
        print(f"error: {finding}")
    if args.strict:
        for finding in strict:
            print(f"missing: {finding}")
    elif strict:
        print(f"{len(strict)} translations or examples still to do: `intents check --strict` lists them")
    if errors or (args.strict and strict):
        return 1
    return 0


def _test(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.evaluation import evaluate, load_eval

    assistant = _assistant(settings)
    sets = [(str(path), path) for path in args.eval_dir] if args.eval_dir else EVAL_SETS
    for title, path in sets:
        report = evaluate(assistant, load_eval(path))
        print(f"== {title}")
        print("\n".join(report.lines(details=not args.quiet)))
        print()
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.assistant import today_in_japan
    from bot.core.content import load_content
    from bot.core.i18n import Texts

    content = load_content(settings.intents_dir)
    texts = Texts(settings.translations_dir, content.start_date)
    today = today_in_japan()
    out = []
    for intent in content.catalog:
        answers = {lang: texts.answer(intent, lang, today) for lang in LANGS}
        out.append(
            {
                "id": intent.id,
                "examples": {lang: list(v) for lang, v in intent.examples.items()},
                "answers": {lang: text for lang, text in answers.items() if text is not None},
                "links": list(intent.links),
            }
        )
    json.dump(out, sys.stdout, ensure_ascii=False, indent=2)
    print()
    return 0


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _report_unanswered(args: argparse.Namespace, settings: Settings) -> int:
    from bot.core.assistant import JST
    from bot.report import unanswered_report

    since = dt.datetime.combine(args.since, dt.time(), JST).timestamp() if args.since else None

    async def read(store: Store) -> str:
        return unanswered_report(await store.questions(since=since, lang=args.lang), args.format)

    return _from_store(settings, read)


def _report_usage(args: argparse.Namespace, settings: Settings) -> int:
    from bot.report import usage_report

    async def read(store: Store) -> str:
        return usage_report(await store.usage(since=args.since), args.format)

    return _from_store(settings, read)


def _from_store(settings: Settings, read: Callable[[Store], Awaitable[str]]) -> int:
    """Print what `read` makes of the server's store (opened for reports: no user is read)."""
    from bot.store import open_store

    async def run() -> str:
        store = await open_store(settings, reports_only=True)
        try:
            return await read(store)
        finally:
            await store.close()

    try:
        print(asyncio.run(run()))
    except Exception as exc:  # no store to read: say why (its messages name hosts, never passwords)
        print(f"cannot read the store: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import dataclasses

    import uvicorn

    from bot.app import create_app
    from bot.server import freeze_startup_objects, limit_malloc_arenas, raise_open_files_limit, uvicorn_config

    limit_malloc_arenas()  # before any thread starts allocating

    settings = dataclasses.replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    app = create_app(settings, telegram_polling=args.telegram_polling)
    freeze_startup_objects()
    raise_open_files_limit()
    uvicorn.Server(uvicorn_config(app, settings)).run()
    return 0
