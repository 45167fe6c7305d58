"""Budgets of the public status lookup by dossier code (per client address), against guessing codes.

Counted on the platform's shared counters (`tinhso.kit.ratelimit`), so that every API process behind the
proxy draws from the same budget and a restart does not renew it: any lookups, 60 a minute; failed lookups
(unknown codes), 10 per 10 minutes, after which every lookup from the address waits for the window's end.
"""

from __future__ import annotations

from tinhso.kit.db import Database
from tinhso.kit.ratelimit import Budget, too_many

LOOKUPS = Budget("procedures.lookup", 60, 60)
MISSES = Budget("procedures.lookup_miss", 10, 600)


def check(db: Database, address: str) -> None:
    """Count one lookup; 429 `lookup_rate_limited` with Retry-After when the address is over a budget."""
    wait = MISSES.spent(db, address) or LOOKUPS.take(db, address)
    if wait > 0:
        raise too_many("lookup_rate_limited", "Too many status lookups; try again later", wait)


def missed(db: Database, address: str) -> None:
    """Count a lookup of an unknown code."""
    MISSES.take(db, address)
