"""Parallel SMTP sessions for one worker: threads that each keep a session for many messages.

Only the worker's own thread touches the database: the sessions take jobs from one queue
and put what happened on another. A session is reused for up to ``max_messages``
messages and closed when idle, when its settings change, or after a broken connection.
"""

import logging
import queue
import threading
from dataclasses import dataclass

from ..email_service import StepFailed, open_session

log = logging.getLogger("webapp.notifier")
IDLE_SECONDS = 30.0  # a session no job needed for this long is closed (servers drop them)
MAX_MESSAGES = 200  # then reconnect: some servers cap the messages of one session


@dataclass
class Job:
    """One message for one recipient, and how to reach the server."""

    item: object
    build: object  # () -> bytes: built in the session's thread, so only messages in flight
    sender: str  # are in memory, however large the batch
    params: object


@dataclass
class Result:
    """What happened to a job: ``reply`` when sent, ``failure`` otherwise."""

    job: Job
    reply: str = ""
    failure: StepFailed | None = None
    connecting: bool = False  # the failure happened before the message: reaching the server
    started: bool = True  # False: the worker was stopping, so no session tried it


class _Session(threading.Thread):
    """One session's thread; ``retiring`` asks it to take no more messages and end."""

    def __init__(self, pool):
        super().__init__(daemon=True, name="smtp-session")
        self.pool, self.retiring = pool, False
        self.idle = 0.0  # seconds without a job while its session is open

    def run(self):
        with self.pool.app.app_context():
            self.pool._loop(self)


class SessionPool:
    """Up to ``size`` sessions, each in its own thread; ``resize`` changes how many."""

    def __init__(
        self, app, size=1, *, halted=lambda: False, max_messages=MAX_MESSAGES,
        idle_seconds=IDLE_SECONDS,
    ):  # fmt: skip
        self.app = app  # sessions read SMTP_TIMEOUT and the TLS settings from its config
        self.halted = halted  # once true, no session starts another message
        self.jobs, self.results = queue.Queue(), queue.Queue()
        self.max_messages, self.idle_seconds = max_messages, idle_seconds
        self.threads = []
        self.size = 0
        self.resize(size)

    def resize(self, size):
        """Run ``size`` sessions: start threads, or retire the extra ones after their message."""
        size = max(1, size)
        active = [t for t in self.threads if t.is_alive() and not t.retiring]
        for thread in active[size:]:
            thread.retiring = True
        for _ in range(size - len(active)):
            thread = _Session(self)
            thread.start()
            active.append(thread)
        self.threads = [t for t in self.threads if t.is_alive() and t.retiring] + active[:size]
        self.size = size

    def submit(self, job):
        self.jobs.put(job)

    def take_unstarted(self):
        """Remove and return the jobs no session has started (to hold, release or delay)."""
        taken = []
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                return [job for job in taken if job is not None]
            taken.append(job)

    def close(self):
        """End every session (QUIT) and thread."""
        self.take_unstarted()
        for thread in self.threads:
            thread.retiring = True
            self.jobs.put(None)  # wakes a thread waiting for a job
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads, self.size = [], 0

    # -- one session's thread ----------------------------------------------------------
    def _loop(self, me):
        session, params, carried = None, None, 0
        try:
            while not me.retiring:
                try:
                    job = self.jobs.get(timeout=min(1.0, self.idle_seconds))
                except queue.Empty:
                    me.idle += min(1.0, self.idle_seconds)
                    if me.idle >= self.idle_seconds:
                        session, me.idle = _close(session), 0.0
                    continue
                me.idle = 0.0
                if job is None:
                    continue
                if me.retiring:
                    self.jobs.put(job)  # for a session that stays
                    break
                if self.halted():  # the worker is stopping: this one is given back unsent
                    self.results.put(Result(job, started=False))
                    continue
                if session is not None and (params != job.params or carried >= self.max_messages):
                    session = _close(session)
                try:
                    if session is None:
                        try:
                            session, params, carried = open_session(job.params), job.params, 0
                        except StepFailed as failure:
                            self.results.put(Result(job, failure=failure, connecting=True))
                            continue
                    session = self._send(session, job)
                except Exception:  # never leave the worker waiting for a result
                    log.exception("session thread failed on delivery %s", job.item.id)
                    failure = StepFailed("data", "protocol_error", detail="internal error")
                    self.results.put(Result(job, failure=failure))
                    session = _close(session)
                carried += 1
        finally:
            _close(session)

    def _send(self, session, job):
        try:
            raw = job.build()
            session.send(job.sender, [job.item.recipient], raw, fresh_deadline=True)
        except StepFailed as failure:
            self.results.put(Result(job, failure=failure))
            # A broken connection or a "slow down" ends this session; a refusal does not.
            return _close(session) if failure.code is None or failure.code == 421 else session
        self.results.put(Result(job, reply=session.steps[-1].reply))
        session.steps.clear()  # a long session must not grow its step list forever
        return session


def _close(session):
    if session is not None:
        session.close()
    return None
