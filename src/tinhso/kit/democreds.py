"""The demo's credentials file (var/demo-credentials.json): demo accounts and system clients, never in the repo."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tinhso.settings import get_settings


def path() -> Path:
    return get_settings().var_dir / "demo-credentials.json"


def load() -> dict[str, Any]:
    p = path()
    if p.exists():
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return {}
    return {}


def record(section: str, name: str, data: dict[str, Any]) -> None:
    """Merge one entry into the file (readable only by its owner)."""
    doc = load()
    doc.setdefault(section, {})[name] = data
    p = path()
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(p)
