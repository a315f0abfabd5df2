"""Runs state transitions (attaching -> attached, detaching -> detached) when they are due."""
import heapq
import itertools
import sys
import threading
import time
import traceback


class Scheduler:
    """Each due transition runs on a thread of its own, as EC2 completes attachments
    concurrently; a transition takes the engine's lock itself, around what touches its state,
    and not around slow data-plane work (loop devices, udev)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._stopped = False
        self._running: set[threading.Thread] = set()
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
        with self._cond:
            running = list(self._running)
        for t in running:
            t.join(timeout=30)

    def _loop(self):
        while True:
            with self._cond:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    self._cond.wait(None if not self._heap else max(0.0, self._heap[0][0] - time.time()))
                if self._stopped:
                    return
                _, _, fn = heapq.heappop(self._heap)
                t = threading.Thread(target=self._run, args=(fn,), name="transition", daemon=True)
                self._running.add(t)
            t.start()

    def _run(self, fn):
        try:
            fn()
        except Exception:
            print("sandbox: a scheduled transition failed:\n" + traceback.format_exc(),
                  file=sys.stderr, flush=True)
        finally:
            with self._cond:
                self._running.discard(threading.current_thread())
