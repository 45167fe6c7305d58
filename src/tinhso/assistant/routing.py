"""Routing citizens' feedback (phản ánh, kiến nghị) to the agency that should handle it.

A multinomial naive Bayes classifier over accent-folded syllables and syllable pairs, trained on labelled
examples written for Nghệ An's agencies (`data/feedback_examples.json`). It is small and transparent: for
each routing it names the words that weighed most, and below a confidence threshold it asks a person.
Every fifth example of each agency is held out to measure accuracy (`tinhso assistant eval`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tinhso.assistant.knowledge import folded_stopwords
from tinhso.kit.text import fold

DATA = Path(__file__).resolve().parent / "data" / "feedback_examples.json"
HOLD_OUT_EVERY = 5


def features(text: str) -> list[str]:
    stop = folded_stopwords()
    syls = [s for s in re.findall(r"[a-z0-9]+", fold(text)) if s]
    content = [s for s in syls if s not in stop and not s.isdigit()]
    pairs = [f"{a}_{b}" for a, b in zip(syls, syls[1:], strict=False) if a not in stop or b not in stop]
    return content + pairs


def load_examples() -> dict[str, list[str]]:
    """{agency_code: [example text, ...]} as shipped."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    return {code: list(items["examples"]) for code, items in raw["agencies"].items()}


def load_keywords() -> dict[str, list[str]]:
    """{agency_code: [domain term, ...]}: each agency's subject words, used as extra training documents."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    return {code: list(items.get("keywords", [])) for code, items in raw["agencies"].items()}


def keyword_documents() -> list[tuple[str, str]]:
    return [(k, code) for code, words in load_keywords().items() for k in words]


def agency_names() -> dict[str, str]:
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    return {code: items["name"] for code, items in raw["agencies"].items()}


def split(examples: dict[str, list[str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    train: list[tuple[str, str]] = []
    held: list[tuple[str, str]] = []
    for code, texts in examples.items():
        for i, text in enumerate(texts):
            (held if i % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1 else train).append((text, code))
    return train, held


@dataclass
class Routing:
    agency_code: str
    confidence: float
    ranking: list[tuple[str, float]]
    evidence: list[str]


class FeedbackRouter:
    """Multinomial naive Bayes with Laplace smoothing."""

    def __init__(self, labelled: list[tuple[str, str]], alpha: float = 0.5):
        self.alpha = alpha
        self.word_counts: dict[str, Counter[str]] = defaultdict(Counter)
        docs: Counter[str] = Counter()
        for text, label in labelled:
            docs[label] += 1
            self.word_counts[label].update(features(text))
        self.labels = sorted(docs)
        total_docs = sum(docs.values())
        self.prior = {c: math.log(docs[c] / total_docs) for c in self.labels}
        self.vocab = set().union(*(set(c) for c in self.word_counts.values())) if self.word_counts else set()
        self.totals = {c: sum(self.word_counts[c].values()) for c in self.labels}

    def _loglik(self, word: str, label: str) -> float:
        return math.log(
            (self.word_counts[label].get(word, 0) + self.alpha)
            / (self.totals[label] + self.alpha * (len(self.vocab) + 1))
        )

    def route(self, text: str) -> Routing:
        words = [w for w in features(text) if w in self.vocab]
        scores = {c: self.prior[c] + sum(self._loglik(w, c) for w in words) for c in self.labels}
        top = max(scores.values())
        exp = {c: math.exp(s - top) for c, s in scores.items()}
        norm = sum(exp.values())
        ranking = sorted(((c, e / norm) for c, e in exp.items()), key=lambda kv: -kv[1])
        best = ranking[0][0]
        others = [c for c in self.labels if c != best]

        def weight(w: str) -> float:
            rest = sum(self._loglik(w, c) for c in others) / max(1, len(others))
            return self._loglik(w, best) - rest

        evidence = sorted({w for w in words if weight(w) > 0}, key=lambda w: -weight(w))[:6]
        confidence = ranking[0][1] if words else 0.0
        return Routing(best, confidence, ranking, [w.replace("_", " ") for w in evidence])


@lru_cache(maxsize=1)
def router() -> FeedbackRouter:
    """The router trained on every shipped example (the held-out split is only for measuring)."""
    examples = load_examples()
    return FeedbackRouter([(t, c) for c, texts in examples.items() for t in texts] + keyword_documents())


def evaluate() -> dict[str, Any]:
    """Held-out accuracy of the classifier and of a keyword baseline (the agency whose name words occur)."""
    examples = load_examples()
    train, held = split(examples)
    model = FeedbackRouter(train + keyword_documents())
    right = sum(model.route(t).agency_code == c for t, c in held)
    # baseline: always the agency with the most training examples
    majority = Counter(c for _, c in train).most_common(1)[0][0]
    base = sum(c == majority for _, c in held)
    return {
        "train": len(train),
        "held_out": len(held),
        "agencies": len(examples),
        "accuracy": right / len(held) if held else 0.0,
        "majority_baseline": base / len(held) if held else 0.0,
    }
