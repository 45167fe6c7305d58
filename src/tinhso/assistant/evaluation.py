"""Evaluation of the assistant on the labelled question set (`data/eval_questions.json`).

Each item is a question as citizens type it (with or without diacritics, colloquial) and the code of the
procedure that answers it, or null for questions the assistant must not answer (out of scope).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from tinhso.assistant import answer as compose
from tinhso.assistant.config import assistant_settings
from tinhso.assistant.knowledge import index_for
from tinhso.assistant.schemas import AskIn
from tinhso.assistant.service import answer_question

DATA = Path(__file__).resolve().parent / "data" / "eval_questions.json"


def load_questions() -> list[dict[str, Any]]:
    return list(json.loads(DATA.read_text(encoding="utf-8"))["questions"])


def evaluate_assistant(session: Session, questions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Top-1/top-3 retrieval accuracy, refusal precision/recall, and the share of answers whose numbers
    all occur in the cited catalog entries. Questions naming procedures absent from the catalog are skipped."""
    settings = assistant_settings()
    index = index_for(session)
    known = {p.ref for p in index.passages if p.source == "procedure"}
    questions = questions if questions is not None else load_questions()
    if not known:
        return {"questions": 0}
    n = top1 = top3 = 0
    refusals = refused_right = refused_total = 0
    answered = facts_ok = 0
    misses: list[str] = []
    for item in questions:
        expected = item.get("procedure")
        if expected is not None and expected not in known:
            continue
        _, terms = index.query_terms(item["question"])
        hits = index.search(compose.subject_terms(terms), lambda p: p.audience == "public", k=3)
        result = answer_question(session, None, AskIn(question=item["question"], session_id=None), settings)
        declined = result.status != "answered"
        if declined:
            refused_total += 1
        if expected is None:
            refusals += 1
            refused_right += declined
            continue
        n += 1
        codes = [h.passage.ref for h in hits]
        top1 += bool(codes) and codes[0] == expected
        top3 += expected in codes
        if codes[:1] != [expected]:
            misses.append(item["question"])
        if not declined:
            answered += 1
            facts_ok += compose.numbers_supported(result.text, result.cited)
    return {
        "questions": n + refusals,
        "top1": top1 / n if n else 0.0,
        "top3": top3 / n if n else 0.0,
        "refusals": refusals,
        "refusal_precision": refused_right / refused_total if refused_total else 0.0,
        "refusal_recall": refused_right / refusals if refusals else 0.0,
        "facts_match": facts_ok / answered if answered else 0.0,
        "misses": misses,
    }
