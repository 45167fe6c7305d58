"""Exchange pages: the service catalog and the operator's monitoring page."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
