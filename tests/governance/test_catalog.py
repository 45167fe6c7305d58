"""Every text of the governance pages, rules, KPIs and errors has a Vietnamese translation."""

from __future__ import annotations

import ast
from pathlib import Path

from jinja2.ext import babel_extract

import tinhso.governance
from tinhso.governance.compliance import RULES
from tinhso.governance.schemas import Backup, Hosting, Integration, Layer, SignIn, Status
from tinhso.kit.i18n import _catalog

SRC = Path(tinhso.governance.__file__).parent
ERRORS = {"NotFound", "Forbidden", "BadRequest", "Conflict", "Unprocessable", "Unauthorized", "Finding"}


def template_messages() -> set[str]:
    found: set[str] = set()
    for path in (SRC / "templates").rglob("*.html"):
        with path.open("rb") as fh:
            for _, _, message, _ in babel_extract(fh, ("_",), [], {}):
                parts = message if isinstance(message, tuple) else (message,)
                found.update(m for m in parts if isinstance(m, str) and m)
    return found


def code_messages() -> set[str]:
    """The English message of every typed error, compliance finding and report text in the module."""
    found: set[str] = set()
    for path in SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in ERRORS
                and len(node.args) >= 2
            ):
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
            elif (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) in ("_", "gettext")
                and node.args
            ):
                arg = node.args[0]  # report texts: _("Tasks by status")
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.add(arg.value)
    return found


def dynamic_messages() -> set[str]:
    from typing import get_args

    found = {r.title for r in RULES} | {r.remedy for r in RULES}
    for prefix, literal in (
        ("layer.", Layer),
        ("status.", Status),
        ("hosting.", Hosting),
        ("integration.", Integration),
        ("signin.", SignIn),
        ("backup.", Backup),
    ):
        found |= {prefix + v for v in get_args(literal)}
    found |= {f"verdict.{v}" for v in ("pass", "fail", "warn", "not_applicable")}
    found |= {f"task.{v}" for v in ("not_started", "in_progress", "done", "blocked")}
    found |= {f"recurrence.{v}" for v in ("once", "annual", "continuous", "guided", "unspecified")}
    found |= {f"target_{v}" for v in ("met", "watch", "alert", "unknown")}
    found |= {f"evidence_{v}" for v in ("declared", "live", "mixed")}
    return found


def test_every_governance_text_is_translated() -> None:
    messages = template_messages() | code_messages() | dynamic_messages()
    assert len(messages) > 150
    missing = sorted(m for m in messages if m not in _catalog("vi"))
    assert missing == []
