"""Time-based jobs (key rotation, deletion windows, secret rotation...) on the injectable clock.

Jobs are plain callables `job(now) -> None` registered with an interval. `run_due(now)`
runs every job whose time has come: the background thread calls it on wall-clock
ticks, tests call it directly after advancing a ManualClock, so nothing sleeps.
A job must be idempotent and find its work in storage (a due rotation is a row whose
due time has passed), so a restart or a second node loses nothing.

With several worker processes only the leader runs the storage jobs; a job that flushes
state held in the process itself (access-key last use, secret last access) is
registered with `every_process=True` and runs in every worker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bastion.clock import Clock

log = logging.getLogger("bastion.scheduler")

Job = Callable[[datetime], None]


@dataclass(slots=True)
class _Entry:
    name: str
    job: Job
    interval: timedelta
    every_process: bool = False
    next_run: datetime | None = None


class Scheduler:
    def __init__(
        self,
        clock: Clock,
        tick: float = 1.0,
        *,
        leader: bool = True,
    ) -> None:
        self._clock = clock
        self._tick = tick
        self.leader = leader
        self.before_run: Callable[[], object] | None = None  # e.g. drop stale caches
        self._jobs: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(
        self,
        name: str,
        job: Job,
        interval: timedelta = timedelta(seconds=30),
        *,
        every_process: bool = False,
    ) -> None:
        with self._lock:
            self._jobs[name] = _Entry(name, job, interval, every_process)

    def run_due(self, now: datetime | None = None, *, force: bool = False) -> list[str]:
        """Run the jobs that are due (all of them with `force`); returns their names."""
        now = now or self._clock.now()
        with self._lock:
            due = [
                e
                for e in self._jobs.values()
                if (self.leader or e.every_process)
                and (force or e.next_run is None or e.next_run <= now)
            ]
            for entry in due:
                entry.next_run = now + entry.interval
        if due and self.before_run is not None:
            self.before_run()
        ran = []
        for entry in due:
            try:
                entry.job(now)
                ran.append(entry.name)
            except Exception:
                log.exception("scheduled job %s failed; it runs again next interval", entry.name)
        return ran

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self._tick):
            self.run_due()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
