"""The knowledge base: sources of passages, and the accent-insensitive BM25 index over them.

Sources implement `KnowledgeSource`. Three ship: the published procedure catalog (through the procedures
module's stable contract `tinhso.procedures.catalog_api.published_procedures`) and the internal documents
agencies upload here, and the FAQ entries agency administrators write (`FaqSource`). Every process keeps one index per database and rebuilds it when the index token in
`assistant_index_state` changes (a document upload, a `procedures.*` event, or an explicit rebuild).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import math
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import bm25s
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.assistant.diacritics import Restorer, base_counts, domain_counts
from tinhso.assistant.models import FaqEntry, IndexState, KnowledgeDocument
from tinhso.assistant.textproc import has_diacritics, normalize, segment, stopwords
from tinhso.kit.db import new_id, utcnow
from tinhso.kit.text import fold

MAX_CHUNK_CHARS = 900
logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG


@dataclass
class Passage:
    """A retrievable piece of knowledge with what is needed to cite it."""

    source: str  # "procedure" or "document"
    ref: str  # procedure code, or document id
    title: str
    text: str
    url: str | None
    audience: str  # "public" (anyone) or "officials"
    agency_code: str | None = None
    visibility: str = "province"  # documents: "agency" (its officials) or "province" (all officials)
    fields: dict[str, Any] = field(default_factory=dict)
    anchor: int = 0  # chunk number inside a document

    def cite(self) -> dict[str, Any]:
        return {
            "kind": self.source,
            "ref": self.ref,
            "title": self.title,
            "url": self.url,
            "agency_code": self.agency_code,
            "chunk": self.anchor,
        }


class KnowledgeSource(Protocol):
    """Anything that can list its passages from the database."""

    name: str

    def passages(self, session: Session) -> list[Passage]: ...


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


class ProcedureSource:
    """The published procedure catalog (thủ tục hành chính), public knowledge."""

    name = "procedures"

    @staticmethod
    def available() -> bool:
        return (
            importlib.util.find_spec("tinhso.procedures") is not None
            and importlib.util.find_spec("tinhso.procedures.plugin") is not None
            and importlib.util.find_spec("tinhso.procedures.catalog_api") is not None
        )

    def passages(self, session: Session) -> list[Passage]:
        if not self.available():
            return []
        api = importlib.import_module("tinhso.procedures.catalog_api")
        out = []
        for doc in api.published_procedures(session):
            fields = {
                k: _get(doc, k)
                for k in (
                    "code",
                    "name",
                    "field",
                    "level",
                    "agency_code",
                    "agency_name",
                    "time_limit_text",
                    "time_limit_days",
                    "fees_text",
                    "fees",
                    "subjects",
                    "components",
                    "where_to_apply",
                    "legal_basis",
                    "url",
                )
            }
            components = "; ".join(str(_get(c, "name", "")) for c in fields["components"] or [])
            # The name counts twice: questions name the procedure far more often than its documents.
            text = ". ".join(
                str(x)
                for x in (
                    fields["name"],
                    fields["name"],
                    fields["field"],
                    components,
                    fields["where_to_apply"],
                    fields["agency_name"],
                )
                if x
            )
            out.append(
                Passage(
                    source="procedure",
                    ref=str(fields["code"]),
                    title=str(fields["name"]),
                    text=text,
                    url=str(fields["url"] or f"/thu-tuc/{fields['code']}"),
                    audience="public",
                    agency_code=fields["agency_code"],
                    fields=fields,
                )
            )
        return out


def chunk_text(content: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split a document into passages along headings and paragraphs, each at most about `limit` characters."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n|\n(?=#)", normalize_block(content)) if b.strip()]
    chunks: list[str] = []
    current = ""
    for block in blocks:
        while len(block) > limit:
            cut = block.rfind(". ", 0, limit)
            cut = cut + 1 if cut > limit // 3 else limit
            if current:
                chunks.append(current)
                current = ""
            chunks.append(block[:cut].strip())
            block = block[cut:].strip()
        if current and len(current) + len(block) + 2 > limit:
            chunks.append(current)
            current = block
        else:
            current = f"{current}\n\n{block}" if current else block
    if current:
        chunks.append(current)
    return chunks


def normalize_block(content: str) -> str:
    return "\n".join(normalize(line) for line in content.replace("\r\n", "\n").split("\n"))


class DocumentSource:
    """Internal rules documents uploaded by agencies (for officials only)."""

    name = "documents"

    def passages(self, session: Session) -> list[Passage]:
        out = []
        for doc in session.scalars(select(KnowledgeDocument).order_by(KnowledgeDocument.created_at)):
            for i, chunk in enumerate(chunk_text(doc.content)):
                out.append(
                    Passage(
                        source="document",
                        ref=doc.id,
                        title=doc.title,
                        text=chunk,
                        url=f"/api/v1/ai/documents/{doc.id}",
                        audience="officials",
                        agency_code=doc.agency_code,
                        visibility=doc.visibility,
                        anchor=i,
                    )
                )
        return out


class FaqSource:
    """Published FAQ entries (câu hỏi thường gặp, managed in `faq.py`): public knowledge, cited as "faq"."""

    name = "faq"

    def passages(self, session: Session) -> list[Passage]:
        rows = session.scalars(
            select(FaqEntry).where(FaqEntry.published.is_(True)).order_by(FaqEntry.created_at)
        )
        return [
            Passage(
                source="faq",
                ref=row.id,
                title=row.question,
                text=f"{row.question}\n{row.answer}",
                url=f"/api/v1/ai/faq/{row.id}",
                audience="public",
                agency_code=row.agency_code,
                fields={"answer": row.answer},
            )
            for row in rows
        ]


SOURCES: list[KnowledgeSource] = [ProcedureSource(), DocumentSource(), FaqSource()]


def analyse(text: str) -> list[str]:
    """Index terms: folded syllables plus folded compound words from Vietnamese segmentation, minus stop words."""
    terms: list[str] = []
    stop = stopwords()
    for word in segment(text):
        lower = word.lower()
        if lower in stop:
            continue
        # stop words are removed before folding: folded, "họ" (they) would also remove "hộ" (household)
        parts = [fold(s) for s in re.findall(r"[^\W_]+", lower) if s not in stop]
        parts = [p for p in parts if p]
        terms.extend(parts)
        if len(parts) > 1:
            terms.append("_".join(parts))
    return terms


@lru_cache(maxsize=16384)
def analyse_cached(text: str) -> tuple[str, ...]:
    """`analyse` for passages, remembered across index rebuilds (the catalog rarely changes)."""
    return tuple(analyse(text))


_folded_stop: frozenset[str] | None = None


def folded_stopwords() -> frozenset[str]:
    global _folded_stop
    if _folded_stop is None:
        _folded_stop = frozenset(fold(w) for w in stopwords() if " " not in w)
    return _folded_stop


@lru_cache(maxsize=1)
def synonyms() -> dict[str, str]:
    """Everyday names of procedures (folded) and the catalog's words for them (data/synonyms.json)."""
    raw = json.loads((Path(__file__).resolve().parent / "data" / "synonyms.json").read_text(encoding="utf-8"))
    return dict(raw["expansions"])


@dataclass
class Hit:
    passage: Passage
    score: float
    coverage: float  # share of the question's terms found in the passage, weighted by their rarity (IDF)
    matched: int = 0  # how many distinct syllables of the question the passage contains


class KnowledgeIndex:
    """BM25 over analysed passages, and a diacritic restorer that knows the knowledge base's words."""

    def __init__(self, passages: list[Passage], token: str):
        self.token = token
        self.passages = passages
        self.restorer = Restorer(base_counts(), domain_counts(p.title + ". " + p.text for p in passages))
        self.terms = [list(analyse_cached(p.text)) for p in passages]
        self.term_sets = [set(t) for t in self.terms]
        df: dict[str, int] = {}
        for terms in self.term_sets:
            for t in terms:
                df[t] = df.get(t, 0) + 1
        n = len(passages)
        self.idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}
        # A word no passage contains is usually the asker's own (names, "nhà vợ", "sinh viên"): it counts
        # like a typical word rather than like the rarest one.
        self.unseen_idf = sorted(self.idf.values())[len(self.idf) // 2] if self.idf else 1.0
        self.public_mask = np.array([1.0 if p.audience == "public" else 0.0 for p in passages])
        self.retriever: bm25s.BM25 | None = None
        if passages:
            self.retriever = bm25s.BM25()
            self.retriever.index(self.terms, show_progress=False)

    def restore(self, text: str) -> str:
        return self.restorer.restore(text)

    def query_terms(self, question: str) -> tuple[str, list[str]]:
        """The question with restored diacritics (if typed without), and its index terms, with the catalog's
        names added for everyday words ("sổ đỏ" → "giấy chứng nhận quyền sử dụng đất")."""
        restored = question if has_diacritics(question) else self.restore(question)
        folded = f" {' '.join(re.findall(r'[a-z0-9]+', fold(question)))} "
        extra = [v for k, v in synonyms().items() if f" {k} " in folded]
        return restored, analyse(" . ".join([restored, *extra]))

    def search(self, terms: list[str], allowed: Any = None, k: int = 5) -> list[Hit]:
        """Top passages for `terms`; `allowed(passage) -> bool` filters what the caller may see."""
        if self.retriever is None or not terms:
            return []
        mask = np.array([1.0 if allowed is None or allowed(p) else 0.0 for p in self.passages])
        if not mask.any():
            return []
        k = min(len(self.passages), max(k, 1))
        docs, scores = self.retriever.retrieve(
            [terms], k=k, show_progress=False, weight_mask=mask, n_threads=1
        )
        # Coverage is measured on syllables: segmentation may cut compounds differently in short questions.
        wanted = {t for t in terms if "_" not in t} or set(terms)
        weight = {t: self.idf.get(t, self.unseen_idf) for t in wanted}
        total = sum(weight.values()) or 1.0
        hits = []
        for idx, score in zip(docs[0], scores[0], strict=True):
            if score <= 0 or not mask[int(idx)]:
                continue
            found = wanted & self.term_sets[int(idx)]
            coverage = sum(weight[t] for t in found) / total
            hits.append(Hit(self.passages[int(idx)], float(score), coverage, len(found)))
        return hits


_lock = threading.Lock()
_indexes: dict[str, KnowledgeIndex] = {}


def current_token(session: Session) -> str:
    state = session.get(IndexState, 1)
    return state.token if state is not None else "initial"


def mark_changed(session: Session, reason: str) -> str:
    """Record in the caller's transaction that the knowledge changed (every process rebuilds on next use)."""
    state = session.get(IndexState, 1)
    if state is None:
        state = IndexState(id=1, token=new_id(), reason=reason[:128], changed_at=utcnow())
        session.add(state)
    else:
        state.token, state.reason, state.changed_at = new_id(), reason[:128], utcnow()
    session.flush()
    return state.token


def index_for(session: Session) -> KnowledgeIndex:
    """The index of this database, rebuilt when the knowledge changed since it was built."""
    bind = session.get_bind()
    key = str(bind.engine.url)
    token = current_token(session)
    index = _indexes.get(key)
    if index is not None and index.token == token:
        return index
    with _lock:
        index = _indexes.get(key)
        if index is not None and index.token == token:
            return index
        passages: list[Passage] = []
        for source in SOURCES:
            passages.extend(source.passages(session))
        index = KnowledgeIndex(passages, token)
        _indexes[key] = index
        return index
