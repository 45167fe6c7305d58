"""A small sliding-window limiter for public lookups (per client address, in the serving process)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class SlidingWindow:
    def __init__(self, limit: int, seconds: float):
        self.limit, self.seconds = limit, seconds
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Count one hit; False when the key is over its limit (the hit is not counted then)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits[key]
            while q and q[0] <= now - self.seconds:
                q.popleft()
            if len(q) >= self.limit:
                return False
            q.append(now)
            if len(self._hits) > 50_000:  # forget idle keys
                for k in [k for k, v in self._hits.items() if not v][:10_000]:
                    del self._hits[k]
            return True

    def blocked(self, key: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            q = self._hits.get(key)
            if not q:
                return False
            while q and q[0] <= now - self.seconds:
                q.popleft()
            return len(q) >= self.limit

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


# Any lookups: 60 a minute per address; failed lookups (unknown codes): 10 per 10 minutes per address.
LOOKUPS = SlidingWindow(60, 60)
MISSES = SlidingWindow(10, 600)
