"""One claimed batch, sent over the worker's parallel sessions within the per-minute limit.

Every outcome is written from the worker's own thread: sent messages in groups, failures
retried within the window or dead, settings problems held, and "slow down" replies put
back in the queue while the pool shrinks and pauses.
"""

import logging
import time
from collections import deque

from ..email_service import explain, hold_delivery
from ..extensions import db
from . import outcomes, rate
from .pool import Job, SessionPool

log = logging.getLogger("webapp.notifier")
LONGEST_PAUSE = 300.0  # seconds: a throttling server is asked again at least this often


class Throttle:
    """How far a worker has slowed down after "slow down" replies, and its recovery."""

    def __init__(self, first_pause):
        self.first_pause = first_pause
        self.cap = None  # sessions allowed while throttled (None: as configured)
        self.pause = 0.0

    def sessions(self, configured):
        return configured if self.cap is None else min(self.cap, configured)

    def slow_down(self, configured):
        """Halve the sessions and double the pause (it grows while the throttling lasts)."""
        self.cap = max(1, self.sessions(configured) // 2)
        self.pause = min(LONGEST_PAUSE, max(self.first_pause, self.pause * 2))
        return self.pause

    def ease(self, configured):
        """A batch went through untroubled: one more session, and the pause starts over."""
        if self.cap is not None:
            self.cap = None if self.cap + 1 >= configured else self.cap + 1
        self.pause = 0.0


class BatchSender:
    """Sends claimed batches for one worker; keeps its sessions open between batches."""

    def __init__(self, worker):
        self.worker = worker
        self.pool = None
        self.throttle = Throttle(worker.app.config["NOTIFIER_THROTTLE_PAUSE"])
        self.paused_until = 0.0  # time.monotonic() before which no batch is claimed
        self.sent = []  # (delivery id, server reply) not yet recorded
        self.params = self.sender = None
        # This batch met trouble (nothing more tried) / heard "slow down" (pause once).
        self.troubled = self.throttled = False

    def close(self):
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def send(self, params, sender, messages, sessions, per_minute):
        """Send ``messages`` (``(Item, build)``, ``build() -> bytes``) with up to ``sessions``
        at once."""
        self.params, self.sender = params, sender
        size = self.throttle.sessions(sessions)
        if self.pool is None:
            self.pool = SessionPool(self.worker.app, size, halted=lambda: self.worker.stopping)
        elif self.pool.size != size:
            self.pool.resize(size)
        pending, in_flight, stopped = deque(messages), 0, False
        self.troubled = self.throttled = False
        while pending or in_flight:
            if self.worker.stopping and not stopped:
                # Finish the messages in hand; give back those no session has started.
                unstarted = [job.item for job in self.pool.take_unstarted()]
                self._give_back(unstarted + [item for item, _ in pending])
                in_flight -= len(unstarted)
                pending.clear()
                stopped = True
            if pending:
                # One look at the shared budget per batch: what it grants goes out now.
                granted, wait = rate.take(per_minute, len(pending))
                for _ in range(granted):
                    item, build = pending.popleft()
                    self.pool.submit(Job(item, build, sender, params))
                in_flight += granted
                if pending:  # this minute's budget is spent: the rest waits for the next
                    self._give_back([item for item, _ in pending], delay=wait)
                    self.paused_until = time.monotonic() + wait
                    pending.clear()
            if in_flight:
                in_flight -= 1 + self._record(self.pool.results.get(), pending, sessions)
        self._flush_sent()
        if not self.troubled:
            self.throttle.ease(sessions)

    # -- outcomes ----------------------------------------------------------------------
    def _record(self, result, pending, sessions):
        """Record one result; returns how many unstarted jobs it took back from the pool."""
        failure, item = result.failure, result.job.item
        if not result.started:
            self._give_back([item])
            return 0
        if failure is None:
            self.sent.append((item.id, result.reply))
            if len(self.sent) >= self.worker.commit_every:
                self._flush_sent()
            return 0
        abandons = (
            failure.kind == "throttled" or failure.kind in outcomes.HOLD_KINDS or result.connecting
        )
        if not abandons:
            self._fail([item], failure)
            return 0
        # The server or the settings are the problem: nothing else in this batch is tried.
        unstarted = [job.item for job in self.pool.take_unstarted()]
        items = [item, *unstarted, *(queued for queued, _ in pending)]
        pending.clear()
        self.troubled = True
        if failure.kind == "throttled":
            self._throttled(items, failure, sessions)
        elif failure.kind in outcomes.HOLD_KINDS:
            hint = explain(failure, self.params, sender=self.sender, recipient="", timeout=0)
            self.hold([i.id for i in items], failure, hint)
        else:
            self._fail(items, failure)
        return len(unstarted)

    def _throttled(self, items, failure, sessions):
        # Several sessions may hear "slow down" at once: that is one event, not several.
        pause = self.throttle.pause if self.throttled else self.throttle.slow_down(sessions)
        self.throttled = True
        self._flush_sent()
        outcomes.mark_throttled([i.id for i in items], self.worker.worker_id, failure, pause)
        db.session.commit()
        self.pool.resize(self.throttle.sessions(sessions))
        self.paused_until = time.monotonic() + pause
        self.worker.counts["throttled"] += len(items)
        log.warning("server throttling (%s): %d back in the queue", failure.reply, len(items))

    def _fail(self, items, failure):
        self._flush_sent()
        for item in items:
            status = outcomes.mark_failed(item, self.worker.worker_id, failure)
            self.worker.counts[status] += 1
            log.warning("delivery %s %s: %s %s", item.id, status, failure.kind, failure.reply)
        db.session.commit()

    def hold(self, ids, failure, reason):
        """Hold deliveries until the settings are fixed, and put the service on hold."""
        self._flush_sent()
        outcomes.mark_held(ids, self.worker.worker_id, failure)
        hold_delivery(reason)
        db.session.commit()
        self.worker.counts["held"] += len(ids)
        log.error("deliveries held: %s", reason)

    def _give_back(self, items, delay=0.0):
        self.give_back([i.id for i in items], delay)

    def give_back(self, ids, delay=0.0):
        """Put claimed deliveries back in the queue, due after ``delay`` seconds."""
        self._flush_sent()
        outcomes.release(ids, self.worker.worker_id, delay)
        db.session.commit()

    def _flush_sent(self):
        """Record the messages sent since the last flush, in one statement and one commit.

        Grouping is what lets the worker keep up with the server; the price is that a
        worker killed (SIGKILL) mid-group sends up to ``commit_every`` messages again after
        its lease expires, each with its original Message-ID.
        """
        if self.sent:
            outcomes.mark_sent(self.sent, self.worker.worker_id)
            db.session.commit()
            self.worker.counts["sent"] += len(self.sent)
            self.sent = []
