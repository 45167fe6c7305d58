"""The common result of a Vietnamese validator or normaliser."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Check:
    """`ok`: accepted; `value`: the normalised value; `fixed`: the input was changed to get there;
    `rule`/`message`: why it was refused (or, with `ok`, a warning); `params` fill the message."""

    ok: bool
    value: Any = None
    fixed: bool = False
    rule: str | None = None
    message: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    warning: bool = False

    @classmethod
    def fail(cls, rule: str, message: str, **params: Any) -> Check:
        return cls(False, None, False, rule, message, params)
