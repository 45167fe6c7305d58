"""Composing answers only from retrieved passages, and the checks around them.

An answer about a procedure is built from the catalog's own fields (documents, fees, time limit, where to
apply), copied verbatim: the assistant never computes or rephrases a fee or a time limit. `numbers_supported`
checks that every number of an answer occurs in the sources it cites, which also guards an optional
language model's phrasing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from tinhso.assistant.knowledge import Hit, Passage
from tinhso.kit.i18n import gettext
from tinhso.kit.text import fold

NUMBER_RE = re.compile(r"\d+(?:[.,]\d+)*")

INTENTS: dict[str, tuple[str, ...]] = {
    "documents": (
        "giay to",
        "ho so",
        "can gi",
        "can nhung gi",
        "thanh phan",
        "mang theo",
        "chuan bi",
        "can mang",
    ),
    "fees": ("phi", "le phi", "bao nhieu tien", "mat tien", "ton tien", "chi phi", "mien phi", "tien"),
    "time": ("bao lau", "thoi han", "may ngay", "bao nhieu ngay", "thoi gian", "khi nao", "mat may"),
    "where": (
        "o dau",
        "noi nop",
        "nop o",
        "co quan nao",
        "dia diem",
        "nop tai",
        "lam o",
        "den dau",
        "cho nao",
    ),
}

# Words that say what is asked (fee, time, documents, place) rather than which procedure it is about.
QUESTION_TERMS = {
    part
    for phrases in INTENTS.values()
    for phrase in phrases
    for part in [*phrase.split(), phrase.replace(" ", "_")]
} | {"mat", "het", "lam", "thu", "tuc", "thu_tuc", "nhieu", "bao", "lau", "can", "nop", "xin", "muon"}

ENGLISH_WORDS = {
    "the",
    "a",
    "an",
    "how",
    "what",
    "where",
    "do",
    "does",
    "i",
    "is",
    "are",
    "to",
    "for",
    "of",
    "my",
    "can",
    "need",
    "you",
    "please",
    "which",
    "register",
    "get",
    "much",
    "long",
    "fee",
    "documents",
    "birth",
    "certificate",
    "marriage",
}
INJECTION_RE = re.compile(
    r"ignore (all |any )?(the )?(previous|prior|above) (instructions|prompts?)|disregard (the )?(previous|above)"
    r"|system prompt|bo qua (moi|tat ca|cac) (huong dan|chi dan|lenh)|quen (het )?(cac )?(huong dan|chi dan)",
    re.IGNORECASE,
)
PII_PATTERNS = [
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    (re.compile(r"(?<!\d)(?:\+?84|0)(?:[\s.-]?\d){9,10}(?!\d)"), "[số điện thoại]"),
    (re.compile(r"(?<!\d)\d{12}(?!\d)"), "[số định danh]"),
    (re.compile(r"(?<!\d)\d{9}(?!\d)"), "[số CMND]"),
]


def mask_personal_data(text: str) -> str:
    """Hide e-mail addresses, phone numbers and identity-card numbers before anything is stored."""
    for pattern, replacement in PII_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def looks_english(text: str) -> bool:
    words = re.findall(r"[a-zA-Z]+", text)
    if not words or fold(text) != text.lower():
        return False
    return sum(w.lower() in ENGLISH_WORDS for w in words) / len(words) >= 0.4


def injection_suspected(text: str) -> bool:
    return bool(INJECTION_RE.search(fold(text)) or INJECTION_RE.search(text))


def intents(question: str) -> list[str]:
    folded = f" {fold(question)} "
    found = []
    for intent, phrases in INTENTS.items():
        if any(re.search(rf"(?<!\w){re.escape(p)}(?!\w)", folded) for p in phrases):
            found.append(intent)
    return found


def subject_terms(terms: list[str]) -> list[str]:
    """The terms that name what the question is about (all terms if nothing else is left)."""
    return [t for t in terms if t not in QUESTION_TERMS] or terms


def numbers_in(text: str) -> set[str]:
    return {re.sub(r"[.,]", "", n) for n in NUMBER_RE.findall(text)}


def source_numbers(passages: list[Passage]) -> set[str]:
    found: set[str] = set()
    for p in passages:
        found |= numbers_in(p.text) | numbers_in(p.title) | numbers_in(p.url or "")
        found |= numbers_in(json.dumps(p.fields, ensure_ascii=False, default=str))
    return found


def numbers_supported(text: str, passages: list[Passage]) -> bool:
    """True when every number in `text` occurs in one of the cited passages."""
    return numbers_in(text) <= source_numbers(passages)


@dataclass
class Draft:
    text: str
    cited: list[Passage]
    passages: list[dict[str, Any]] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)


def _components(fields: dict[str, Any], lang: str) -> str:
    parts = []
    for c in fields.get("components") or []:
        name = str(c.get("name", "")) if isinstance(c, dict) else str(getattr(c, "name", ""))
        copies = c.get("copies") if isinstance(c, dict) else getattr(c, "copies", None)
        reuse = (
            c.get("obtainable_from_data") if isinstance(c, dict) else getattr(c, "obtainable_from_data", None)
        )
        item = name
        if copies:
            item += " (" + gettext("{n} copy(ies)", lang, n=copies) + ")"
        if reuse:
            item += " — " + gettext("can be taken from existing data, no need to submit", lang)
        parts.append(item)
    return "; ".join(parts)


def procedure_sections(fields: dict[str, Any], lang: str) -> dict[str, str]:
    return {
        "documents": _components(fields, lang),
        "fees": str(fields.get("fees_text") or ""),
        "time": str(fields.get("time_limit_text") or ""),
        "where": str(fields.get("where_to_apply") or fields.get("agency_name") or ""),
    }


LABELS = {
    "documents": "Documents needed",
    "fees": "Fees",
    "time": "Time limit",
    "where": "Where to apply",
}


def compose_procedure(question: str, hits: list[Hit], lang: str) -> Draft:
    """A short answer from the top procedure's fields, in the order the question asks for them."""
    top = hits[0].passage
    fields = top.fields
    sections = procedure_sections(fields, lang)
    asked = intents(question)
    order = asked or ["documents", "fees", "time", "where"]
    level = gettext("commune level" if fields.get("level") == "xa" else "provincial level", lang)
    lines = [
        gettext(
            "Procedure «{name}» ({level}; handled by {agency}).",
            lang,
            name=top.title,
            level=level,
            agency=fields.get("agency_name") or "",
        )
    ]
    for key in order:
        if sections.get(key):
            lines.append(f"- {gettext(LABELS[key], lang)}: {sections[key]}")
    lines.append(gettext("Details: {url}", lang, url=top.url))
    cited = [top]
    related = [
        h.passage
        for h in hits[1:3]
        if h.passage.source == "procedure" and h.coverage >= hits[0].coverage * 0.8
    ]
    if related:
        lines.append(
            gettext("Related procedures:", lang) + " " + "; ".join(f"{p.title} ({p.url})" for p in related)
        )
        cited.extend(related)
    return Draft("\n".join(lines), cited, sections={k: sections[k] for k in order if sections.get(k)})


def compose_document(hits: list[Hit], lang: str) -> Draft:
    """For officials: the passages of internal documents, quoted, with their titles."""
    docs = [h for h in hits if h.passage.source == "document"][:3]
    top = docs[0].passage
    excerpt = top.text if len(top.text) <= 700 else top.text[:700].rsplit(" ", 1)[0] + " …"
    lines = [gettext("According to «{title}»:", lang, title=top.title), excerpt]
    passages = [
        {
            "document_id": h.passage.ref,
            "title": h.passage.title,
            "chunk": h.passage.anchor,
            "text": h.passage.text,
            "suspected_injection": injection_suspected(h.passage.text),
        }
        for h in docs
    ]
    return Draft("\n".join(lines), [h.passage for h in docs], passages=passages)


def compose_faq(hits: list[Hit], lang: str) -> Draft:
    """A published FAQ entry: its question and its answer, as written by the agency."""
    top = next(h.passage for h in hits if h.passage.source == "faq")
    lines = [gettext("Frequently asked question: «{title}»", lang, title=top.title), top.fields["answer"]]
    return Draft("\n".join(lines), [top])


def unknown_text(lang: str, hotline: str, centre: str) -> str:
    return gettext(
        "I could not find this in the procedure catalog, so I will not guess. Please call the hotline "
        "{hotline} or ask at the {centre}.",
        lang,
        hotline=hotline,
        centre=centre,
    )


def english_text(hotline: str) -> str:
    return (
        "Trợ lý ảo hiện trả lời câu hỏi bằng tiếng Việt về thủ tục hành chính. / The assistant answers questions "
        f"in Vietnamese about administrative procedures. Hotline: {hotline}."
    )
