"""EC2-like request rate limiting: one token bucket per action category."""
import threading
import time


def category(action: str, buckets: dict) -> str:
    if action in buckets:
        return action
    if action.startswith(("Describe", "List", "Get", "Search")):
        return "describe"
    return "mutating"


class TokenBucket:
    def __init__(self, burst: float, rate: float, now: float):
        self.burst = burst
        self.rate = rate
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Throttler:
    """Buckets start full; a configuration change of "throttling" refills them all."""

    def __init__(self):
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._enabled = False
        self._spec: dict = {}

    def configure(self, throttling: dict) -> None:
        with self._lock:
            self._enabled = throttling["enabled"]
            self._spec = throttling["buckets"]
            self._buckets = {}

    def levels(self) -> dict:
        """Tokens in each bucket now (buckets appear with their category's first call)."""
        with self._lock:
            now = time.monotonic()
            return {cat: min(b.burst, b.tokens + (now - b.stamp) * b.rate) for cat, b in self._buckets.items()}

    def allow(self, action: str) -> bool:
        if not self._enabled:
            return True
        with self._lock:
            cat = category(action, self._spec)
            now = time.monotonic()
            bucket = self._buckets.get(cat)
            if bucket is None:
                spec = self._spec.get(cat, self._spec.get("mutating"))
                bucket = self._buckets[cat] = TokenBucket(spec["burst"], spec["rate"], now)
            return bucket.take(now)
