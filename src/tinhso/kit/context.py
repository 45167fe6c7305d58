"""Per-request context (request id, principal) that audit and events read without threading it through."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
principal_var: ContextVar[Any] = ContextVar("principal", default=None)
