"""A work queue with rate-limited retries, in the shape of client-go's workqueue.

Event handlers put object keys on the queue and return at once; a worker takes
keys off it and reconciles. A key is never handed to two workers at the same
time, and a key added while it is being processed is handed out again once the
worker calls :meth:`WorkQueue.done`. Failed keys come back after a delay that
is the larger of a per-key exponential backoff and an overall token bucket, so
one broken object cannot starve the others and a broken cluster is not
hammered.

Delayed keys wait in a heap that :meth:`WorkQueue.get` drains itself, so the
queue needs no thread of its own and leaves nothing running after
:meth:`WorkQueue.shut_down`.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Callable

logger = logging.getLogger(__name__)

DEFAULT_BASE_DELAY = 0.005
"""First retry delay of a key, in seconds (client-go's default)."""

DEFAULT_MAX_DELAY = 10.0
"""Longest retry delay of a key, in seconds."""

DEFAULT_RATE = 10.0
"""Retries a second allowed across all keys (client-go's default)."""

DEFAULT_BURST = 100
"""Retries allowed at once before the overall rate applies."""


class TokenBucket:
    """An overall rate limit: ``rate`` tokens a second, at most ``burst`` saved up.

    :meth:`reserve` always succeeds and returns how long the caller must wait
    for its token, so a burst of retries is spread out rather than refused.
    """

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(
                f"expected a positive rate and a burst of at least 1, "
                f"got rate={rate!r} and burst={burst!r}"
            )
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token and return the seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(
                float(self._burst), self._tokens + (now - self._last) * self._rate
            )
            self._last = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self._rate


class ItemBackoff:
    """A per-key exponential backoff: ``base * 2**failures``, capped at ``cap``."""

    def __init__(
        self, base: float = DEFAULT_BASE_DELAY, cap: float = DEFAULT_MAX_DELAY
    ) -> None:
        self._base = base
        self._cap = cap
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def when(self, key: str) -> float:
        """Record one more failure of ``key`` and return its next delay."""
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1

        # NB: the exponent is capped before it is used, so a key that has
        # failed a thousand times does not overflow a float.
        return min(self._cap, self._base * 2.0 ** min(failures, 62))

    def failures(self, key: str) -> int:
        """The number of failures recorded for ``key`` since it was forgotten."""
        with self._lock:
            return self._failures.get(key, 0)

    def forget(self, key: str) -> None:
        """Clear the failures of ``key``, after it reconciled or was given up."""
        with self._lock:
            self._failures.pop(key, None)


class WorkQueue:
    """A de-duplicating queue of object keys with delayed, rate-limited adds."""

    def __init__(
        self,
        backoff: ItemBackoff | None = None,
        bucket: TokenBucket | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backoff = backoff if backoff is not None else ItemBackoff()
        self._bucket = bucket if bucket is not None else TokenBucket(clock=clock)
        self._clock = clock
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._delayed: list[tuple[float, str]] = []
        self._shutting_down = False
        self._cond = threading.Condition()

    def __len__(self) -> int:
        """The number of keys ready to be handed out now."""
        with self._cond:
            return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether :meth:`shut_down` has been called."""
        with self._cond:
            return self._shutting_down

    def add(self, key: str) -> None:
        """Queue ``key`` now, unless it is already waiting."""
        with self._cond:
            self._add_locked(key)

    def add_after(self, key: str, delay: float) -> None:
        """Queue ``key`` once ``delay`` seconds have passed."""
        if delay <= 0:
            self.add(key)
            return

        with self._cond:
            if self._shutting_down:
                return
            heapq.heappush(self._delayed, (self._clock() + delay, key))
            self._cond.notify()

    def add_rate_limited(self, key: str) -> None:
        """Queue ``key`` again after a failure, once both rate limits allow it."""
        delay = max(self._backoff.when(key), self._bucket.reserve())
        logger.debug("Retrying key %s in %.3f s.", key, delay)
        self.add_after(key, delay)

    def forget(self, key: str) -> None:
        """Stop counting failures of ``key``: it reconciled, or was given up."""
        self._backoff.forget(key)

    def requeues(self, key: str) -> int:
        """How many times ``key`` has been retried since it was last forgotten."""
        return self._backoff.failures(key)

    def get(self, timeout: float) -> str | None:
        """Hand out the next key, or None on shutdown or after ``timeout`` seconds.

        The caller owns the key until it calls :meth:`done` with it.
        """
        deadline = self._clock() + timeout
        with self._cond:
            while True:
                self._promote_due_locked()

                if self._queue:
                    key = self._queue.popleft()
                    self._dirty.discard(key)
                    self._processing.add(key)
                    return key

                if self._shutting_down:
                    return None

                # Sleep until the deadline or the next delayed key, whichever
                # comes first; an add() or shut_down() wakes us earlier.
                now = self._clock()
                wait = deadline - now
                if self._delayed:
                    wait = min(wait, self._delayed[0][0] - now)
                if deadline <= now:
                    return None
                self._cond.wait(max(wait, 0.0))

    def done(self, key: str) -> None:
        """Release ``key``; if it was added meanwhile, it is handed out again."""
        with self._cond:
            self._processing.discard(key)
            if key in self._dirty and not self._shutting_down:
                self._queue.append(key)
                self._cond.notify()

    def shut_down(self) -> None:
        """Drop every waiting key and wake every worker blocked in :meth:`get`."""
        with self._cond:
            self._shutting_down = True
            self._queue.clear()
            self._dirty.clear()
            self._delayed.clear()
            self._cond.notify_all()

    def _add_locked(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return

        self._dirty.add(key)

        # A key being processed is handed out again by done(), never twice
        # at the same time.
        if key in self._processing:
            return
        self._queue.append(key)
        self._cond.notify()

    def _promote_due_locked(self) -> None:
        now = self._clock()
        while self._delayed and self._delayed[0][0] <= now:
            _, key = heapq.heappop(self._delayed)
            self._add_locked(key)
