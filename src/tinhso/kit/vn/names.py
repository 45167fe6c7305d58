"""Person names: NFC, single spaces, each syllable capitalised, and the tone mark on the vowel the Vietnamese
spelling rules put it on. For open syllables ending in oa, oe, uy the platform uses the traditional placement
("Hòa", "Khỏe", "Thủy"), the form used by the national code lists; `style="new"` gives "Hoà", "Khoẻ", "Thuỷ"."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from tinhso.kit.vn.result import Check

TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}  # huyền, sắc, ngã, hỏi, nặng
VOWELS = set("aăâeêioôơuưy")
MARKED = set("ăâêôơư")
_ALLOWED = re.compile(r"^[^\W\d_]+(?:['’\-][^\W\d_]+)*$")


def _split_tone(syllable: str) -> tuple[str, str | None]:
    decomposed = unicodedata.normalize("NFD", syllable)
    tone = next((c for c in decomposed if c in TONES), None)
    base = unicodedata.normalize("NFC", "".join(c for c in decomposed if c not in TONES))
    return base, tone


def _tone_index(base: str, style: str) -> int | None:
    """Index in `base` (lower case, no tone) of the vowel that carries the tone mark."""
    i = 0
    n = len(base)
    while i < n and base[i] not in VOWELS:
        i += 1
    if i == n:
        return None
    if (
        base.startswith("qu")
        and i == 1
        and n > 2
        and base[2] in VOWELS
        or base.startswith("gi")
        and i == 1
        and n > 2
        and base[2] in VOWELS
    ):
        i = 2
    j = i
    while j < n and base[j] in VOWELS:
        j += 1
    cluster, has_final = base[i:j], j < n
    if "ươ" in cluster:
        return i + cluster.index("ươ") + 1
    marked = [k for k, c in enumerate(cluster) if c in MARKED]
    if marked:
        return i + marked[-1]
    if len(cluster) == 1:
        return i
    if has_final:
        return j - 1
    if len(cluster) == 2:
        if style == "new" and cluster in ("oa", "oe", "uy"):
            return i + 1
        return i
    return i + 1


def place_tone(syllable: str, style: str = "old") -> str:
    """Put the syllable's tone mark on the right vowel (case preserved)."""
    base, tone = _split_tone(syllable)
    if tone is None:
        return base
    index = _tone_index(base.lower(), style)
    if index is None:
        return unicodedata.normalize("NFC", syllable)
    return unicodedata.normalize("NFC", base[: index + 1] + tone + base[index + 1 :])


def _capitalise(word: str) -> str:
    parts = re.split(r"(['’\-])", word.lower())
    return "".join(p[:1].upper() + p[1:] if p not in ("'", "’", "-") else p for p in parts)


@lru_cache(maxsize=50_000)
def _word(word: str, style: str) -> str | None:
    """One syllable, normalised (names share few distinct syllables, so this is cached)."""
    if not _ALLOWED.match(word):
        return None
    # each part of a hyphenated or apostrophised word ("Khơ-Mú", "Y'Bắc") is a syllable with its own tone mark
    parts = re.split(r"(['’\-])", _capitalise(word))
    return "".join(p if p in ("'", "’", "-") else place_tone(p, style) for p in parts)


def is_standard_word(word: str, style: str = "old") -> bool:
    """Whether `word` is a syllable exactly as normalize_name writes it: a name made only of such words joined
    by single spaces is already in standard form (normalize_name returns it unchanged, not fixed)."""
    return _word(word, style) == word


def normalize_name(value: object, style: str = "old") -> Check:
    """'  nguyễn   thị HOÀ ' -> 'Nguyễn Thị Hòa'."""
    raw = "" if value is None else str(value)
    words = unicodedata.normalize("NFC", raw).split()
    if not words:
        return Check.fail("name_empty", "The name is empty")
    out = []
    for word in words:
        normalised = _word(word, style)
        if normalised is None:
            return Check.fail("name_characters", "The name contains characters that are not letters")
        out.append(normalised)
    name = " ".join(out)
    return Check(True, name, name != raw)
