"""Diacritic restoration for Vietnamese typed without accents ("lam giay khai sinh" → "làm giấy khai sinh").

A syllable bigram model decoded with Viterbi over the candidates of each unaccented syllable. Candidates
and counts come from text that ships with the platform's dependencies — underthesea's annotated VLSP 2013
sentences and its Viet74K word list (Apache-2.0, read from the installed package) — plus the knowledge
base (procedure catalog, internal documents, the feedback examples), weighted up because it is the domain
the questions are about. Words already typed with accents are kept and serve as context.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tinhso.assistant.textproc import WORD_RE, _package_file, has_diacritics, normalize, place_tone, tokens
from tinhso.kit.text import fold, nfc

START = "<s>"
HELD_OUT_EVERY = 10  # every 10th corpus sentence is kept out of training to measure accuracy


def corpus_sentences() -> list[list[str]]:
    """Sentences of the annotated corpus shipped with underthesea, as lower-case syllables."""
    path = _package_file("pipeline", "pos_tag", "models", "pos_crf_vlsp2013_20230303", "test_output.txt")
    if path is None:
        return []
    sentences: list[list[str]] = []
    current: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                sentences.append(current)
                current = []
            continue
        word = line.split("\t", 1)[0]
        current.extend(syllables(word))
    if current:
        sentences.append(current)
    return sentences


def syllables(text: str) -> list[str]:
    """Lower-case syllables of `text`, NFC, with the platform's tone-mark convention."""
    return [place_tone(s.lower()) for s in WORD_RE.findall(nfc(text))]


def split_corpus() -> tuple[list[list[str]], list[list[str]]]:
    """(training, held-out) sentences of the shipped corpus."""
    sentences = corpus_sentences()
    train = [s for i, s in enumerate(sentences) if i % HELD_OUT_EVERY]
    held = [s for i, s in enumerate(sentences) if not i % HELD_OUT_EVERY]
    return train, held


@dataclass
class Counts:
    unigrams: Counter[str] = field(default_factory=Counter)
    bigrams: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, sequence: Sequence[str], weight: int = 1) -> None:
        previous = START
        for syl in sequence:
            self.unigrams[syl] += weight
            self.bigrams[(previous, syl)] += weight
            previous = syl
        self.unigrams[START] += weight


DATA = Path(__file__).resolve().parent / "data"


def own_texts() -> list[str]:
    """Text written for this module: how people phrase questions, and the feedback examples."""
    lines = [
        line
        for line in (DATA / "phrases.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    raw = json.loads((DATA / "feedback_examples.json").read_text(encoding="utf-8"))
    for agency in raw["agencies"].values():
        lines.extend(agency["examples"])
        lines.extend(agency.get("keywords", []))
    return [line for line in lines if has_diacritics(line)]


@lru_cache(maxsize=1)
def base_counts() -> Counts:
    """Counts from the shipped corpus (training part), the Viet74K word list and this module's own text."""
    counts = domain_counts(own_texts(), weight=3)
    train, _ = split_corpus()
    for sentence in train:
        counts.add(sentence)
    words = _package_file("corpus", "data", "Viet74K.txt")
    if words is not None:
        for line in words.read_text(encoding="utf-8").splitlines():
            syls = syllables(line)
            if syls and all(has_diacritics(s) or s.isascii() for s in syls):
                counts.add(syls)
    return counts


def domain_counts(texts: Iterable[str], weight: int = 3) -> Counts:
    counts = Counts()
    for text in texts:
        for sentence in text.replace("\n", ".").split("."):
            syls = syllables(sentence)
            if syls:
                counts.add(syls, weight)
    return counts


_CANDIDATES: dict[int, dict[str, list[str]]] = {}


def _total(counts: Counts) -> int:
    return sum(v for k, v in counts.unigrams.items() if k != START)


def _candidates(counts: Counts) -> dict[str, list[str]]:
    """Accented forms of each folded syllable, most frequent first (memoised for the shared base counts)."""
    key = id(counts)
    if key not in _CANDIDATES:
        found: dict[str, list[str]] = defaultdict(list)
        for syl, _ in sorted(counts.unigrams.items(), key=lambda kv: -kv[1]):
            if syl != START:
                found[fold(syl)].append(syl)
        _CANDIDATES[key] = dict(found)
    return _CANDIDATES[key]


class Restorer:
    """Restores tone and vowel marks of unaccented syllables; keeps everything else as typed.

    `base` (the shipped text, built once) and `extra` (the knowledge base, rebuilt with the index) are kept
    apart and added up on lookup, so a rebuild does not copy the large base tables.
    """

    def __init__(self, base: Counts, extra: Counts | None = None, interpolation: float = 0.7):
        self.base = base
        self.extra = extra or Counts()
        self.lam = interpolation
        new = [k for k in self.extra.unigrams if k not in base.unigrams]
        self.total = _total(base) + sum(v for k, v in self.extra.unigrams.items() if k != START)
        self.vocab = max(1, len(base.unigrams) + len(new))
        self.candidates: dict[str, list[str]] = dict(_candidates(base))
        touched = {fold(k) for k in self.extra.unigrams if k != START}
        for key in touched:
            forms = set(self.candidates.get(key, [])) | {
                k for k in self.extra.unigrams if k != START and fold(k) == key
            }
            self.candidates[key] = sorted(forms, key=lambda f: -self._unigram(f))

    def _unigram(self, syl: str) -> int:
        return self.base.unigrams.get(syl, 0) + self.extra.unigrams.get(syl, 0)

    def _logp(self, previous: str, syl: str) -> float:
        uni = (self._unigram(syl) + 0.1) / (self.total + 0.1 * self.vocab)
        prev_count = self._unigram(previous)
        pair = (previous, syl)
        bigram = self.base.bigrams.get(pair, 0) + self.extra.bigrams.get(pair, 0)
        bi = bigram / prev_count if prev_count else 0.0
        return math.log(self.lam * bi + (1 - self.lam) * uni)

    def best_unigram(self, folded: str) -> str:
        options = self.candidates.get(folded)
        return options[0] if options else folded

    def decode(self, sequence: Sequence[str], fixed: Sequence[bool]) -> list[str]:
        """Viterbi over candidates; positions marked `fixed` keep their syllable."""
        beams: dict[str, tuple[float, list[str]]] = {START: (0.0, [])}
        for syl, keep in zip(sequence, fixed, strict=True):
            options = [syl] if keep else (self.candidates.get(fold(syl)) or [syl])[:12]
            nxt: dict[str, tuple[float, list[str]]] = {}
            for option in options:
                best: tuple[float, list[str]] | None = None
                for prev, (score, path) in beams.items():
                    s = score + self._logp(prev, option)
                    if best is None or s > best[0]:
                        best = (s, path)
                assert best is not None
                nxt[option] = (best[0], [*best[1], option])
            beams = nxt
        return max(beams.values(), key=lambda v: v[0])[1] if beams else []

    def restore(self, text: str) -> str:
        """The text with accents restored on the words typed without them."""
        parts = tokens(text)
        out: list[str] = []
        run: list[str] = []

        def flush() -> None:
            if not run:
                return
            lowered = [normalize(w).lower() for w in run]
            fixed = [has_diacritics(w) for w in run]
            for original, restored in zip(run, self.decode(lowered, fixed), strict=True):
                out.append(_match_case(original, restored))
            run.clear()

        for part in parts:
            if WORD_RE.fullmatch(part):
                run.append(part)
            else:
                flush()
                out.append(part)
        flush()
        return _rejoin(text, out)


def _match_case(original: str, restored: str) -> str:
    if original.isupper() and len(original) > 1:
        return restored.upper()
    if original[:1].isupper():
        return restored[:1].upper() + restored[1:]
    return restored


def _rejoin(original: str, parts: list[str]) -> str:
    """Put restored tokens back with the original spacing (tokens never change length in syllables)."""
    out: list[str] = []
    pos = 0
    source = tokens(original)
    for src, new in zip(source, parts, strict=True):
        at = original.find(src, pos)
        out.append(original[pos:at])
        out.append(new)
        pos = at + len(src)
    out.append(original[pos:])
    return "".join(out)


@lru_cache(maxsize=1)
def default_restorer() -> Restorer:
    """The restorer trained on the shipped text only (the knowledge index adds the domain text)."""
    return Restorer(base_counts())


def evaluate(restorer: Restorer, sentences: Sequence[Sequence[str]]) -> dict[str, float]:
    """Syllable accuracy of the bigram model and of the most-frequent-form baseline on `sentences`."""
    total = right = right_baseline = 0
    for sentence in sentences:
        folded = [fold(s) for s in sentence]
        guess = restorer.decode(folded, [False] * len(folded))
        for truth, g, f in zip(sentence, guess, folded, strict=True):
            total += 1
            right += g == truth
            right_baseline += restorer.best_unigram(f) == truth
    return {
        "syllables": total,
        "accuracy": right / total if total else 0.0,
        "baseline_accuracy": right_baseline / total if total else 0.0,
    }
