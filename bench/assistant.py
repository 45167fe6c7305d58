"""Assistant benchmark: answer latency and quality over the evaluation set with the whole catalog indexed,
side by side with a baseline retrieval (BM25 over folded syllables only: no diacritic restoration, no word
segmentation, no everyday-name expansion); plus diacritic restoration and feedback routing accuracy.

    .venv/bin/python bench/assistant.py            # every evaluation question, 3 rounds
    .venv/bin/python bench/assistant.py --small    # 40 questions, 1 round

A fresh SQLite database in a temporary folder is migrated and seeded with the reference data (the procedure
catalog comes from the procedures module's own seed). Goals from the issue: top-3 retrieval ≥ 90 %,
p95 answer latency < 300 ms without a language model, on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", action="store_true", help="40 questions, one round")
    args = parser.parse_args()

    var = Path(tempfile.mkdtemp(prefix="tinhso-bench-assistant-"))
    os.environ["TINHSO_VAR_DIR"] = str(var)
    os.environ.setdefault("TINHSO_LOG_LEVEL", "WARNING")
    os.environ["TINHSO_DATABASE_URL"] = f"sqlite:///{var / 'bench.db'}"

    import bm25s
    import numpy as np

    from tinhso.assistant import diacritics, routing
    from tinhso.assistant.config import assistant_settings
    from tinhso.assistant.evaluation import evaluate_assistant, load_questions
    from tinhso.assistant.knowledge import index_for
    from tinhso.assistant.schemas import AskIn
    from tinhso.assistant.service import answer_question
    from tinhso.kit.db import get_database
    from tinhso.kit.text import fold
    from tinhso.migrate import upgrade
    from tinhso.modules import plugins

    upgrade()
    db = get_database()
    for _, plugin in plugins():
        if hasattr(plugin, "seed"):
            with db.transaction() as session:
                plugin.seed(session, False)

    questions = load_questions()
    if args.small:
        questions = questions[::4][:40]
    rounds = 1 if args.small else 3
    settings = assistant_settings()

    with db.transaction(write=False) as session:
        t0 = time.perf_counter()
        index = index_for(session)
        build = time.perf_counter() - t0
        procedures = [p for p in index.passages if p.source == "procedure"]
        if not procedures:
            print("no procedure catalog in this build: nothing to measure")
            return
        known = {p.ref for p in procedures}
        questions = [q for q in questions if q["procedure"] is None or q["procedure"] in known]

        latencies: list[float] = []
        for _ in range(rounds):
            for q in questions:
                t = time.perf_counter()
                answer_question(session, None, AskIn(question=q["question"], session_id=None), settings)
                latencies.append((time.perf_counter() - t) * 1000)
        quality = evaluate_assistant(session, questions)

        # Baseline: BM25 over accent-folded syllables of the same passages, no restoration or segmentation.
        def syllables(text: str) -> list[str]:
            return re.findall(r"[a-z0-9]+", fold(text))

        base = bm25s.BM25()
        base.index([syllables(p.text) for p in procedures], show_progress=False)
        base_lat: list[float] = []
        top1 = top3 = n = 0
        for q in questions:
            t = time.perf_counter()
            docs, _ = base.retrieve(
                [syllables(q["question"]) or ["_"]], k=3, show_progress=False, n_threads=1
            )
            base_lat.append((time.perf_counter() - t) * 1000)
            if q["procedure"] is None:
                continue
            codes = [procedures[int(i)].ref for i in np.asarray(docs[0])]
            n += 1
            top1 += codes[0] == q["procedure"]
            top3 += q["procedure"] in codes

    in_scope = sum(q["procedure"] is not None for q in questions)
    print(
        f"catalog: {len(procedures)} procedures indexed in {build * 1000:.0f} ms (first build, incl. language data)"
    )
    print(
        f"questions: {len(questions)} ({in_scope} about a procedure, {len(questions) - in_scope} out of scope), "
        f"{rounds} round(s)"
    )
    print()
    print(f"{'measure':44} {'assistant':>12} {'baseline':>12}")
    print(f"{'top-1 retrieval accuracy':44} {quality['top1']:>11.1%} {top1 / n:>11.1%}")
    print(f"{'top-3 retrieval accuracy (goal ≥ 90 %)':44} {quality['top3']:>11.1%} {top3 / n:>11.1%}")
    print(f"{'refusal precision':44} {quality['refusal_precision']:>11.1%} {'n/a':>12}")
    print(f"{'refusal recall (out-of-scope declined)':44} {quality['refusal_recall']:>11.1%} {'n/a':>12}")
    print(f"{'answers whose numbers all occur in sources':44} {quality['facts_match']:>11.1%} {'n/a':>12}")
    print(
        f"{'answer latency p50 (ms)':44} {statistics.median(latencies):>12.1f} {statistics.median(base_lat):>12.1f}"
    )
    print(
        f"{'answer latency p95 (ms, goal < 300)':44} {percentile(latencies, 95):>12.1f} "
        f"{percentile(base_lat, 95):>12.1f}"
    )
    print("  (baseline latency is the BM25 lookup alone; the assistant's includes restoration, segmentation,")
    print("   retrieval and composing the answer)")
    print()
    _, held = diacritics.split_corpus()
    if args.small:
        held = held[:200]
    t = time.perf_counter()
    d = diacritics.evaluate(diacritics.default_restorer(), held)
    elapsed = time.perf_counter() - t
    print(
        f"diacritic restoration, held-out corpus sentences ({d['syllables']:.0f} syllables, "
        f"{d['syllables'] / elapsed:,.0f} syllables/s):"
    )
    print(
        f"{'  syllable accuracy, bigram Viterbi vs most frequent form':60} {d['accuracy']:>7.1%} "
        f"{d['baseline_accuracy']:>7.1%}"
    )
    r = routing.evaluate()
    print(f"feedback routing, {r['held_out']} held-out examples, {r['agencies']} agencies:")
    print(
        f"{'  accuracy, naive Bayes vs majority agency':60} {r['accuracy']:>7.1%} {r['majority_baseline']:>7.1%}"
    )
    if quality["misses"]:
        print()
        print(f"top-1 misses ({len(quality['misses'])}): " + "; ".join(quality["misses"][:12]))


if __name__ == "__main__":
    main()
