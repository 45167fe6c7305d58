"""Vietnamese text services: Unicode and tone-mark normalisation, word segmentation, keyword extraction.

Tone marks (dấu thanh) sit on one vowel of a syllable. Two conventions are in use: the traditional one
("kiểu cũ": hòa, thủy, khỏe) and the newer one ("kiểu mới": hoà, thuỷ, khoẻ) which differs only for the open
clusters oa, oe, uy. Text typed on different keyboards mixes both, and mixes NFC with NFD; the platform
stores NFC and one convention so that comparison, search and counting work.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Literal

from tinhso.kit.text import fold, nfc

ToneStyle = Literal["old", "new"]

# Combining marks: the five tones, and the vowel-shaping marks that stay on their letter.
TONES = {"\u0300": "huyền", "\u0301": "sắc", "\u0309": "hỏi", "\u0303": "ngã", "\u0323": "nặng"}
VOWELS = set("aăâeêioôơuưy")
SHAPED = set("ăâêôơư")
WORD_RE = re.compile(r"[^\W\d_]+", re.UNICODE)
TOKEN_RE = re.compile(r"[^\W\d_]+|\d+(?:[.,]\d+)*|\S", re.UNICODE)


def split_tone(syllable: str) -> tuple[str, str | None]:
    """The syllable without its tone mark (NFC) and the tone mark (a combining character) or None."""
    decomposed = unicodedata.normalize("NFD", syllable)
    tone = next((ch for ch in decomposed if ch in TONES), None)
    bare = "".join(ch for ch in decomposed if ch not in TONES)
    return unicodedata.normalize("NFC", bare), tone


def _tone_index(bare: str, style: ToneStyle) -> int | None:
    """Where the tone goes in a toneless, lower-case syllable; None if it has no vowel."""
    start = 0
    if bare[:2] in ("qu", "gi") and len(bare) > 2 and bare[2] in VOWELS:
        start = 2  # the u of qu and the i of gi belong to the onset
    positions = [i for i in range(start, len(bare)) if bare[i] in VOWELS]
    if not positions:
        positions = [i for i in range(len(bare)) if bare[i] in VOWELS]
        if not positions:
            return None
    # the vowel cluster is the first contiguous run
    cluster = [positions[0]]
    for i in positions[1:]:
        if i == cluster[-1] + 1:
            cluster.append(i)
        else:
            break
    shaped = [i for i in cluster if bare[i] in SHAPED]
    if shaped:
        return shaped[-1]  # ươ → ơ; â, ê, ô, ơ, ă, ư take the tone
    if len(cluster) == 1:
        return cluster[0]
    has_coda = cluster[-1] < len(bare) - 1
    if has_coda:
        return cluster[-1]
    pair = bare[cluster[0]] + bare[cluster[1]]
    if len(cluster) == 2:
        if style == "new" and pair in ("oa", "oe", "uy"):
            return cluster[1]
        return cluster[0]
    return cluster[1]  # three vowels without a coda: the middle one (khuỷu, ngoèo)


@lru_cache(maxsize=65536)
def place_tone(syllable: str, style: ToneStyle = "old") -> str:
    """Put the syllable's tone mark where `style` wants it; other text is returned as NFC."""
    bare, tone = split_tone(syllable)
    if tone is None:
        return nfc(syllable)
    lower = bare.lower()
    index = _tone_index(lower, style)
    if index is None:
        return nfc(syllable)
    base = unicodedata.normalize("NFD", bare[index])
    return nfc(bare[:index] + unicodedata.normalize("NFC", base + tone) + bare[index + 1 :])


def normalize(text: str, style: ToneStyle = "old") -> str:
    """NFC, one tone-mark convention, collapsed white space."""
    text = nfc(text)
    text = WORD_RE.sub(lambda m: place_tone(m.group(0), style), text)
    return re.sub(r"[ \t\u00a0]+", " ", text).strip()


def has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


_SEGMENT_LOCK = threading.Lock()


def segment(text: str) -> list[str]:
    """Vietnamese word segmentation (underthesea's bundled CRF): 'giấy khai sinh' → ['giấy', 'khai sinh'].

    underthesea loads its model lazily on first use and that is not thread-safe (a concurrent first call
    sees a half-loaded model), so calls are serialised; each takes about a millisecond.
    """
    text = normalize(text)
    if not text:
        return []
    with _SEGMENT_LOCK:
        from underthesea import word_tokenize

        words = word_tokenize(text)
    return [w for w in words if w.strip()]


def _package_file(*parts: str) -> Path | None:
    """A data file inside the installed underthesea package (located without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("underthesea")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a pinned dependency
        return None
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    return path if path.exists() else None


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """Vietnamese stop words: underthesea's list plus the words every question about procedures contains."""
    words: set[str] = set(EXTRA_STOPWORDS)
    path = _package_file("datasets", "stopwords", "stopwords.txt")
    if path is not None:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                words.add(normalize(line.strip().lower()).replace("_", " "))
    return frozenset(words)


EXTRA_STOPWORDS = {
    "tôi",
    "mình",
    "em",
    "anh",
    "chị",
    "ạ",
    "à",
    "ơi",
    "nhé",
    "không",
    "gì",
    "nào",
    "bao nhiêu",
    "thế nào",
    "như thế nào",
    "làm sao",
    "muốn",
    "cần",
    "phải",
    "được",
    "có",
    "cho",
    "của",
    "và",
    "là",
    "thì",
    "ở",
    "đâu",
    "xin",
    "hỏi",
    "cho hỏi",
    "vui lòng",
    "những",
    "các",
    "với",
    "một",
}


def keywords(text: str, limit: int = 10) -> list[dict[str, object]]:
    """Content words of `text` ranked by frequency and length, from segmented, normalised words."""
    counts: Counter[str] = Counter()
    first: dict[str, int] = {}
    for i, word in enumerate(segment(text)):
        w = word.lower()
        if not WORD_RE.fullmatch(w.replace(" ", "")) or w in stopwords() or len(w) < 2:
            continue
        counts[w] += 1
        first.setdefault(w, i)
    scored = sorted(counts.items(), key=lambda kv: (-(kv[1] * (1 + kv[0].count(" "))), first[kv[0]], kv[0]))
    return [{"keyword": w, "count": c} for w, c in scored[:limit]]


def tokens(text: str) -> list[str]:
    """Words, numbers and punctuation of `text` in order (for restoration, which keeps everything else)."""
    return TOKEN_RE.findall(text)
