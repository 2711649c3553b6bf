"""Turning a `Reply` into text: plain (chat apps, console, `ask`) or HTML (web chat, Telegram).

Shared by the adapters so each one only maps the result onto its platform's message types.
"""

from __future__ import annotations

import html

from bot.core.furigana import Format, render_segments
from bot.core.languages import is_rtl, native_name
from bot.core.models import Block, Reply


def block_text(block: Block, furigana: Format = "inline") -> str:
    """A block's text, easy Japanese with furigana in the given format."""
    if block.segments is not None:
        return render_segments(block.segments, furigana)
    return html.escape(block.text) if furigana == "html" else block.text


def _heading(reply: Reply, block: Block) -> str | None:
    # Several languages in one reply (two-language mode, forwarded questions): label each part
    # so staff can copy the one they need.
    return f"【{native_name(block.lang)}】" if len(reply.blocks) > 1 else None


def plain_blocks(reply: Reply, with_links: bool = True) -> list[str]:
    """One plain-text part per language block (links after the last), for chat messages."""
    parts = []
    for block in reply.blocks:
        lines = [h for h in [_heading(reply, block)] if h]
        lines.append(block_text(block, "inline"))
        if block.note:
            lines.append(f"※ {block.note}")
        parts.append("\n".join(lines))
    if with_links and reply.links and parts:
        parts[-1] += "\n\n" + "\n".join(f"🔗 {link.label}\n{link.url}" for link in reply.links)
    return parts


def plain_text(reply: Reply) -> str:
    """The whole reply as the plain text a chat would show."""
    return "\n\n".join(plain_blocks(reply))


def html_blocks(reply: Reply, ruby: bool = True) -> list[str]:
    """HTML fragments per block: <ruby> furigana for the web, inline furigana for Telegram."""
    parts = []
    for block in reply.blocks:
        heading = _heading(reply, block)
        # <ruby> for the web; Telegram has no ruby, so inline furigana, escaped like all text.
        body = block_text(block, "html") if ruby else html.escape(block_text(block, "inline"))
        body = body.replace("\n", "<br>") if ruby else body
        note = f"\n<i>※ {html.escape(block.note)}</i>" if block.note else ""
        parts.append((f"<b>{html.escape(heading)}</b>\n" if heading else "") + body + note)
    return parts


def direction(lang: str) -> str:
    """The HTML dir attribute for a language."""
    return "rtl" if is_rtl(lang) else "ltr"
