"""Vietnamese text helpers: NFC everywhere, and accent folding for search ("dan so" finds "Dân số")."""

from __future__ import annotations

import unicodedata


def nfc(text: str) -> str:
    """Unicode NFC, the one form the platform stores."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """Lower-case and strip diacritics (đ → d) for accent-insensitive comparison and search."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return stripped.replace("đ", "d").replace("Đ", "d")


def matches(query: str, *fields: str | None) -> bool:
    """True when every folded word of `query` occurs in one of the folded fields."""
    haystack = " ".join(fold(f) for f in fields if f)
    return all(word in haystack for word in fold(query).split())
