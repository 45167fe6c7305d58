"""Translations through gettext catalogs (Babel): one .po per module under tinhso/locale/<lang>/LC_MESSAGES/.

Message ids are English; Vietnamese is the default language of every page and error. Adding a language
(the decision asks for the ethnic minorities' languages too) is adding a catalog folder, not code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
SOURCE_LANGUAGE = "en"
DEFAULT_LANGUAGE = "vi"


@lru_cache
def _catalog(lang: str) -> dict[str, str]:
    messages: dict[str, str] = {}
    folder = LOCALE_DIR / lang / "LC_MESSAGES"
    for po in sorted(folder.glob("*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh, locale=lang)
        for message in catalog:
            if message.id and message.string and isinstance(message.id, str):
                messages[message.id] = str(message.string)
    return messages


def languages() -> list[str]:
    """Languages with a catalog, plus the source language."""
    found = {p.name for p in LOCALE_DIR.iterdir() if p.is_dir()} if LOCALE_DIR.exists() else set()
    return sorted(found | {SOURCE_LANGUAGE}, key=lambda c: (c != DEFAULT_LANGUAGE, c))


def gettext(message: str, lang: str = DEFAULT_LANGUAGE, **params: object) -> str:
    """Translate an English message id into `lang` and fill its {named} parameters."""
    text = message if lang == SOURCE_LANGUAGE else _catalog(lang).get(message, message)
    if params:
        try:
            return text.format(**params)
        except (KeyError, IndexError, ValueError):
            return text
    return text


def both(message: str, **params: object) -> dict[str, str]:
    """The message in Vietnamese and English, as every API error carries it."""
    return {"vi": gettext(message, "vi", **params), "en": gettext(message, "en", **params)}


def pick_language(query: str | None, cookie: str | None, accept: str | None = None) -> str:
    """Choose the page language: ?lang=, then the remembered choice, else Vietnamese.

    The browser's Accept-Language is deliberately ignored: many people in Vietnam use an English-language
    operating system, and the portal speaks Vietnamese unless the person chooses otherwise.
    """
    available = set(languages())
    for candidate in (query, cookie):
        if candidate and candidate in available:
            return candidate
    return DEFAULT_LANGUAGE
