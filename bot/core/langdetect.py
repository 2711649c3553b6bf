"""Which language a message is written in, among ours: script rules first, then py3langid.

Scripts used by one of our languages only (Hangul, kana, Thai, Khmer, Burmese, Sinhala, Bengali,
Devanagari for Nepali, Arabic script for Urdu) decide at once; Latin and Cyrillic text goes to
py3langid, restricted to our languages. Measured in docs/benchmarks.md.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import lzma
import os
import re
import shutil
import struct
import tempfile
import threading
import weakref
import zipfile
from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import numpy.typing as npt

from bot.core.cache_files import forget_older, write_beside
from bot.core.classifier import Classifier, model_key
from bot.core.languages import LANGS
from bot.core.normalize import MAX_CHARS, normalize

log = logging.getLogger(__name__)

_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa]")
_HIRAGANA = re.compile(r"[\u3041-\u3096]")
_SCRIPTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ja", _KANA),
    ("ko", re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]")),
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("km", re.compile(r"[\u1780-\u17ff]")),
    ("my", re.compile(r"[\u1000-\u109f]")),
    ("si", re.compile(r"[\u0d80-\u0dff]")),
    ("bn", re.compile(r"[\u0980-\u09ff]")),
    ("ne", re.compile(r"[\u0900-\u097f]")),
    ("ur", re.compile(r"[\u0600-\u06ff]")),
)
_HAN = re.compile(r"[\u4e00-\u9fff]")
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_MONGOLIAN = re.compile(r"[өүӨҮ]")
_UKRAINIAN = re.compile(r"[іїєґІЇЄҐ]")
_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+|\d+")
"""URLs, addresses and numbers: no language at all."""
# Card names that residents write inside any language, and the noise above: they say nothing
# about the language.
_NOT_LANGUAGE = re.compile(
    _NOISE.pattern + "|"
    r"特定在留カード|在留カード|マイナンバーカード|マイナンバー|特別永住者|特定|在留|"
    r"\b(tokutei|zairyu+|zairyuu|kaado|my ?number|mynumber|mainanba|residence card|card)\b",
    re.IGNORECASE,
)
_UNSPACED = frozenset({"ja", "zh", "th", "km", "my"})
"""Languages written without spaces between words."""
SENTENCE_LETTERS = 8
"""A message with fewer letters (card names, URLs and numbers aside) is not a sentence."""
_CHINESE_WORDS = re.compile(r"[是我你他她吧啊怎什哪吗呢们这还给没想卡]")
"""Characters of Chinese sentences that Japanese does not use this way (卡: Japanese writes カード)."""

MIN_PROBABILITY = 0.9
"""Below this, a guess is not trusted and the conversation keeps its language."""
OWN_MODEL_TRUSTED = 0.5
"""From this probability on, the model of our own examples wins over py3langid (romanised writing)."""
_NOT_LATIN_OR_CYRILLIC = re.compile(r"[^\W\d_\u0000-\u024f\u0400-\u04ff\u1e00-\u1eff]")
"""A letter of another script than Latin (Vietnamese included) and Cyrillic."""


@dataclass(frozen=True)
class Detection:
    """A language, whether it is sure, and whether the message is a full sentence."""

    lang: str | None
    confident: bool
    probability: float = 0.0
    sentence: bool = False
    """Enough words to move a conversation to another language (not one word, a card name, a URL)."""


class LanguageDetector:
    """Detects our languages in short messages; the py3langid model loads on first use.

    With `cache_dir`, our part of the model is kept there unpacked: later starts read it in a
    few milliseconds instead of unpacking py3langid's LZMA file (about 0.25 s).
    """

    def __init__(self, cache_dir: Path | None = None, examples: Iterable[tuple[str, str]] = ()) -> None:
        """`examples`: (text, language) pairs of our own content; those in Latin or Cyrillic letters
        teach a model of romanised writing (Roman Urdu, Banglish, romaji, Vietnamese without
        diacritics) that py3langid, trained on formal text, does not know."""
        self._identifier: Any = None
        self._lock = threading.Lock()
        self._cache_dir = cache_dir
        own = [(text, lang) for text, lang in examples if not _NOT_LATIN_OR_CYRILLIC.search(text)]
        self._own = fitted_on(own, cache_dir) if len({lang for _, lang in own}) > 1 else None
        if cache_dir is not None:
            keep_unpacked(LANGS, cache_dir)
        # A message is often asked about twice (does the platform's hint matter? which language
        # then?): the second time is free.
        self._recent = functools.lru_cache(maxsize=256)(self._detect)

    def _model(self) -> Any:
        with self._lock:
            if self._identifier is None:
                self._identifier = load_identifier(LANGS, self._cache_dir)
        return self._identifier

    def detect(self, text: str) -> Detection:
        """The language of `text`; not confident for short or ambiguous messages ("ok", "card?").

        Kanji without kana is Chinese only when it has characters Japanese does not write (simplified
        forms such as 请, or words such as 吗): 永住許可申請 is a term both languages share. Only the
        part of a message the matcher reads (`MAX_CHARS`) is read here too.
        """
        result: Detection = self._recent(text[:MAX_CHARS])  # no more than the matcher reads
        return result

    def _detect(self, text: str) -> Detection:
        stripped = _NOT_LANGUAGE.sub(" ", text)
        letters = _LETTERS.findall(stripped)
        if not letters:
            # Nothing but card names: written in kana, the message is Japanese all the same.
            return Detection("ja", True, 1.0) if _KANA.search(text) else Detection(None, False)
        words = len(text.split())
        sentence = functools.partial(_is_sentence, len(_LETTERS.findall(_NOISE.sub(" ", text))), len(letters), words)
        for lang, pattern in _SCRIPTS:
            hits = len(pattern.findall(stripped))
            if lang == "ja" and hits and not _HIRAGANA.search(stripped) and hits < len(letters):
                continue  # katakana terms (マイナポータル) inside another script: Japanese has hiragana
            if hits and hits * 2 >= len(letters) * (1 if lang != "ja" else 0.5):
                return Detection(lang, True, 1.0, sentence(lang))
        han = _HAN.findall(stripped)
        if han and len(han) * 2 >= len(letters):
            if _CHINESE_WORDS.search(stripped) or not _japanese_charset(han):
                return Detection("zh", len(letters) >= 2, 0.9, sentence("zh"))
            return Detection(None, False, 0.0)
        if _UKRAINIAN.search(stripped):
            return Detection("uk", True, 1.0, sentence("uk"))
        if _MONGOLIAN.search(stripped):
            return Detection("mn", True, 1.0, sentence("mn"))
        guess: tuple[str, float] | None = None
        if self._own is not None:  # our own examples first: py3langid's model loads only when they are unsure
            own = self._own.probabilities(_prepared(text))
            best = int(own.argmax())
            if own[best] >= OWN_MODEL_TRUSTED:
                guess = self._own.classes[best], float(own[best])
        lang, probability = guess or self._model().classify(stripped)
        confident = probability >= MIN_PROBABILITY and len(letters) >= SENTENCE_LETTERS and words >= 2
        # Two Latin words are often a term ("city hall", "my number"), not a sentence in that language.
        return Detection(str(lang), confident, float(probability), confident and words >= 3)


def fitted_on(examples: list[tuple[str, str]], cache_dir: Path | None) -> Classifier:
    """The model of our own romanised examples: kept in `cache_dir` under the hash of the raw pairs, so
    a later start neither trains nor even prepares them."""
    key = model_key([text for text, _ in examples], [lang for _, lang in examples])
    path = cache_dir / f"languages-{key}.npz" if cache_dir else None
    model = Classifier.load(path) if path else None
    if model is None:
        prepared = [(_prepared(text), lang) for text, lang in examples]
        prepared = [(text, lang) for text, lang in prepared if text]
        model = Classifier.train([t for t, _ in prepared], [lang for _, lang in prepared])
        if path:
            model.save(path)
            forget_older(path)
    return model


def _prepared(text: str) -> str:
    """What the model of our own examples reads: normalised, without card names, URLs and numbers."""
    return normalize(_NOT_LANGUAGE.sub(" ", text))


def _is_sentence(all_letters: int, own_letters: int, words: int, lang: str) -> bool:
    """Enough to be a sentence: 8 letters with card names, 3 without, and two words (unless unspaced)."""
    return all_letters >= SENTENCE_LETTERS and own_letters >= 3 and (words >= 2 or lang in _UNSPACED)


def _japanese_charset(chars: list[str]) -> bool:
    """Whether every character is in JIS X 0208, the set Japanese is written in (请 and 们 are not)."""
    try:
        "".join(chars).encode("shift_jis")
    except UnicodeEncodeError:
        return False
    return True


def load_identifier(langs: tuple[str, ...], cache_dir: Path | None = None) -> Any:
    """py3langid's identifier for `langs` only, read from its model file piece by piece.

    py3langid's own loader keeps the weights of all its 142 languages (28 MB) beside the
    restricted copy, and holds its 39 MB transition table twice while converting it: about 100 MB
    at the peak, for the one short message in a batch that needs it (docs/benchmarks.md). The
    arrays are the same, and so are the results (tests/core/test_langdetect.py checks both).
    With `cache_dir`, the arrays are also kept there unpacked, and read from there next time; the
    transition table is then read from that file as it is walked (`FileTable`), never into the
    process's memory.
    """
    from py3langid.langid import LanguageIdentifier

    cached = _kept(langs, cache_dir) if cache_dir else None
    model: Model | None = None
    if cached and cached.exists():
        model = _read_kept(cached, langs)
    if model is None:
        model = _unpacked(langs)
        if cached:
            _save(cached, model)
            model = _read_kept(cached, langs) or model  # read from the file, so the table read here is freed
    ptc, pc, classes, nextmove, row, output = model
    identifier = LanguageIdentifier(ptc, pc, classes, nextmove, output, norm_probs=True, tk_row=row)
    # py3langid pre-shifts the state rows into a list of Python ints (4 MB for 105,000 states); a
    # stdlib array indexes the same and takes a tenth (tests/core/test_langdetect.py compares results).
    rowbase = getattr(identifier, "_rowbase", None)
    if isinstance(rowbase, list):
        identifier._rowbase = array("q", rowbase)
    return identifier


def keep_unpacked(langs: tuple[str, ...], cache_dir: Path) -> None:
    """Unpack our part of py3langid's model into `cache_dir` now, unless it is there (or unreadable: then
    `load_identifier` unpacks it again).

    A first start does it, as it trains: unpacking holds about 100 MB for a moment, which a server
    answering residents would otherwise reach at its first unsure Latin message.
    """
    cached = _kept(langs, cache_dir)
    if not cached.exists():
        _save(cached, _unpacked(langs))


def _kept(langs: tuple[str, ...], cache_dir: Path) -> Path:
    key = hashlib.sha256(f"{metadata.version('py3langid')} {' '.join(sorted(langs))}".encode()).hexdigest()[:12]
    return cache_dir / f"langid-{key}.npz"


def _unpacked(langs: tuple[str, ...]) -> Model:
    """Our part of py3langid's model, read from its LZMA file."""
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    with tempfile.TemporaryFile() as unpacked_file:
        with lzma.open(MODEL_DIR / MODEL_FILE) as packed:
            shutil.copyfileobj(packed, unpacked_file, 1 << 20)
        unpacked_file.seek(0)
        with zipfile.ZipFile(unpacked_file) as unpacked:
            return _read(unpacked, langs)


Model = tuple[npt.NDArray[Any], npt.NDArray[Any], list[str], "array[int] | FileTable", "array[int]", "array[int]"]
"""(weights, priors, languages, transitions, state rows, state outputs), as py3langid takes them."""


def _read_kept(path: Path, langs: tuple[str, ...]) -> Model | None:
    """The model unpacked at `path`, its transition table left in the file; None (logged) when it cannot be read."""
    try:
        with zipfile.ZipFile(path) as unpacked:
            return _read(unpacked, langs, kept_at=path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        log.warning("ignoring the unpacked language model %s: %s", path, error)
        return None


def _read(model: zipfile.ZipFile, langs: tuple[str, ...], kept_at: Path | None = None) -> Model:
    with _npy(model, "classes") as (file, shape, dtype):
        classes = np.frombuffer(file.read(), dtype=dtype).tolist()
    keep = [i for i, lang in enumerate(classes) if lang in langs]
    with _npy(model, "pc") as (file, shape, dtype):
        pc = np.frombuffer(file.read(), dtype=dtype)[keep].copy()
    with _npy(model, "ptc") as (file, shape, dtype):
        chunks, row_bytes = [], shape[1] * dtype.itemsize
        while chunk := file.read(4096 * row_bytes):
            chunks.append(np.frombuffer(chunk, dtype=dtype).reshape(-1, shape[1])[:, keep])
        ptc = np.ascontiguousarray(np.concatenate(chunks))  # picking columns may leave Fortran order
    nextmove = _on_disk(model, kept_at, "nextmove") if kept_at else _flat(model, "nextmove")
    row, output = (_flat(model, name) for name in ("nextmove_row", "out_feat"))
    return ptc, pc, [classes[i] for i in keep], nextmove, row, output


def _save(path: Path, model: Model) -> None:
    """Keep `model` unpacked at `path` (`write_beside`: a failure only logs)."""
    ptc, pc, classes, nextmove, row, output = model
    arrays = {"ptc": ptc, "pc": pc, "classes": np.array(classes)}
    if isinstance(nextmove, FileTable):
        raise TypeError("only a model unpacked into memory is kept")
    for name, values in (("nextmove", nextmove), ("nextmove_row", row), ("out_feat", output)):
        arrays[name] = np.asarray(memoryview(values))  # its type from the buffer: uint16, uint32, int32
    write_beside(path, lambda out: np.savez(out, **arrays), "the unpacked language model")  # type: ignore[arg-type]


@contextmanager
def _npy(model: zipfile.ZipFile, name: str) -> Iterator[tuple[IO[bytes], tuple[int, ...], np.dtype[Any]]]:
    """One array of the model: its open file, past the header, with its shape and type."""
    with model.open(f"{name}.npy") as file:
        yield file, *_header(file, name)


def _header(file: IO[bytes], name: str) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and type in the .npy header `file` is at, leaving it at the first value."""
    version = np.lib.format.read_magic(file)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, fortran_order, dtype = read_header(file)
    if fortran_order or not dtype.isnative and dtype.itemsize > 1:
        raise ValueError(f"py3langid model: {name} is not stored in C order and native byte order")
    return shape, dtype


_DTYPES: dict[Literal["H", "I", "i"], str] = {"H": "<u2", "I": "<u4", "i": "<i4"}
"""The stdlib array type codes the model's integer arrays take, and their numpy types."""


def _flat(model: zipfile.ZipFile, name: str) -> array[int]:
    """A one-dimensional integer array of the model, as py3langid walks it (a stdlib array)."""
    with _npy(model, name) as (file, shape, dtype):
        codes = {np.dtype(numpy_type): code for code, numpy_type in _DTYPES.items()}
        out = array(codes[dtype], [0]) * shape[0]
        view, filled = memoryview(out).cast("B"), 0
        while filled < len(view):  # straight into place: no second copy of a 39 MB table
            chunk = file.read(min(1 << 20, len(view) - filled))
            if not chunk:
                raise ValueError(f"py3langid model: {name} is cut short")
            view[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
    return out


_LOCAL_HEADER = struct.Struct("<4s22xHH")
"""The start of a zip member's local header: its signature, then the lengths of its name and extra field."""


def _on_disk(model: zipfile.ZipFile, path: Path, name: str) -> FileTable:
    """A one-dimensional integer array of the model kept unpacked at `path`, read from the file item by item.

    py3langid only indexes the table, as it would a stdlib array. The member is read through once
    first, so that the zip's CRC-32 is checked as when it was read into the heap.
    """
    info = model.getinfo(f"{name}.npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"unpacked language model: {name} is compressed")
    with model.open(info) as member:
        while member.read(1 << 20):
            pass
    with path.open("rb") as file:
        file.seek(info.header_offset)
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(file.read(_LOCAL_HEADER.size))
        if signature != b"PK\x03\x04":
            raise ValueError(f"unpacked language model: no zip member header for {name}")
        member_start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        file.seek(member_start)
        shape, dtype = _header(file, name)
        start, end = file.tell(), file.tell() + shape[0] * dtype.itemsize
        if len(shape) != 1 or end > member_start + info.file_size:
            raise ValueError(f"unpacked language model: {name} does not fit its zip member")
    codes = {np.dtype(numpy_type): code for code, numpy_type in _DTYPES.items()}
    return FileTable(path, start, shape[0], codes[dtype])


class FileTable:
    """A one-dimensional integer array in a file, each item read (`os.pread`) when it is indexed.

    It holds py3langid's 39 MB transition table, walked a byte of a message at a time for about one
    message in two hundred (those our own model of romanised writing is unsure of). Memory-mapped,
    each walk brought whole runs of the file's cached pages into the process: one short message
    added 17 MB to its resident memory, and the peaks under load counted them. Read like this, the
    table stays in the page cache, shared by every instance on the machine; a step is one system
    call (a couple of microseconds: a short message well under a millisecond).
    """

    def __init__(self, path: Path, start: int, length: int, code: str) -> None:
        self._item = struct.Struct(f"<{code}")
        self._start, self._length = start, length
        self._fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> int:
        if not 0 <= index < self._length:
            raise IndexError(index)
        size = self._item.size
        value: int = self._item.unpack(os.pread(self._fd, size, self._start + index * size))[0]
        return value
