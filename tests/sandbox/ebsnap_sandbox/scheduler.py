"""Runs state transitions (attaching -> attached, detaching -> detached) when they are due."""
import heapq
import itertools
import sys
import threading
import time
import traceback


class Scheduler:
    def __init__(self, lock):
        self._lock = lock  # the engine's lock: transitions run under it
        self._cond = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._stopped = False
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def at(self, when: float, fn) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._seq), fn))
            self._cond.notify()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _loop(self):
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.time()))
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
            try:
                with self._lock:
                    fn()
            except Exception:
                print("sandbox: a scheduled transition failed:\n" + traceback.format_exc(),
                      file=sys.stderr, flush=True)
