"""`tinhso ai ...`: evaluation of the text services and the assistant."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

cli = typer.Typer(help="AI platform: text services and the virtual assistant", no_args_is_help=True)
console = Console()


@cli.command("eval")
def evaluate_all(
    retrieval: bool = typer.Option(
        True, help="Also evaluate the assistant on the question set (needs a database)"
    ),
) -> None:
    """Print the measured accuracy: diacritic restoration, feedback routing, and assistant retrieval."""
    from tinhso.assistant import diacritics, routing

    table = Table(title="tinhso AI evaluation")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("baseline", justify="right")
    _, held = diacritics.split_corpus()
    d = diacritics.evaluate(diacritics.default_restorer(), held)
    table.add_row(
        f"diacritic restoration, syllable accuracy (held-out, {d['syllables']:.0f} syllables)",
        f"{d['accuracy']:.1%}",
        f"{d['baseline_accuracy']:.1%} (most frequent form)",
    )
    r = routing.evaluate()
    table.add_row(
        f"feedback routing accuracy (held-out {r['held_out']}, {r['agencies']} agencies)",
        f"{r['accuracy']:.1%}",
        f"{r['majority_baseline']:.1%} (majority agency)",
    )
    if retrieval:
        from tinhso.assistant.evaluation import evaluate_assistant
        from tinhso.kit.db import get_database

        with get_database().transaction(write=False) as session:
            e = evaluate_assistant(session)
        if e["questions"]:
            table.add_row(f"retrieval top-1 ({e['questions']} questions)", f"{e['top1']:.1%}", "")
            table.add_row("retrieval top-3", f"{e['top3']:.1%}", "")
            table.add_row(
                f"refusal precision ({e['refusals']} out-of-scope)", f"{e['refusal_precision']:.1%}", ""
            )
            table.add_row("refusal recall", f"{e['refusal_recall']:.1%}", "")
            table.add_row("answers whose numbers all occur in the catalog", f"{e['facts_match']:.1%}", "")
        else:
            table.add_row("retrieval", "no procedure catalog in this database", "")
    console.print(table)
