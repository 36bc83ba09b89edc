"""smtplib held to one deadline: every connect, read and write gets only the time left."""

import smtplib
import time


class DeadlinePassed(Exception):
    """The conversation's time is up.

    Deliberately not an ``OSError``: smtplib closes the socket on those, and a session
    that is still open can still be ended politely with QUIT.
    """


class Deadline:
    """A point in time on the monotonic clock; ``left()`` says how far away it is."""

    def __init__(self, seconds):
        self.at = time.monotonic() + seconds

    def left(self):
        return self.at - time.monotonic()


class _DeadlineReader:
    """The file smtplib reads replies from: each ``recv`` waits only for the time left.

    A socket timeout alone restarts with every byte, so a server that answers one byte
    a second would never time out.
    """

    def __init__(self, client):
        self.client = client
        self.buffer = b""

    def readline(self, limit=-1):
        while b"\n" not in self.buffer and (limit < 0 or len(self.buffer) < limit):
            left = self.client.time_left()
            if left <= 0:
                raise DeadlinePassed
            self.client.sock.settimeout(left)
            try:
                chunk = self.client.sock.recv(4096)
            except TimeoutError:
                raise DeadlinePassed from None
            if not chunk:
                break
            self.buffer += chunk
        end = self.buffer.find(b"\n") + 1 or len(self.buffer)
        if limit >= 0:
            end = min(end, limit)
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        return line

    def close(self):
        self.buffer = b""


class DeadlineSMTP(smtplib.SMTP):
    """An ``smtplib.SMTP`` over a socket already connected (and, for SSL, wrapped).

    ``deadline`` bounds every read and write; the greeting is read in the constructor,
    as ``smtplib.SMTP(host)`` does.
    """

    def __init__(self, host, port, sock, *, deadline, local_hostname):
        self._ready_sock = sock
        self.deadline = deadline
        # smtplib keeps ``host`` as the name STARTTLS verifies the certificate for.
        super().__init__(host, port, local_hostname=local_hostname, timeout=deadline.left())

    def connect(self, host="localhost", port=0, source_address=None):
        # Kept for the greeting step: smtplib's constructor drops the reply.
        self.greeting = super().connect(host, port, source_address)
        return self.greeting

    def _get_socket(self, host, port, timeout):
        sock, self._ready_sock = self._ready_sock, None
        return sock

    def time_left(self):
        return self.deadline.left()

    def getreply(self):
        if self.file is None:  # a new socket (after STARTTLS): nothing read before is kept
            self.file = _DeadlineReader(self)
        return super().getreply()

    def send(self, s):
        left = self.time_left()
        if left <= 0:
            raise DeadlinePassed
        if self.sock is not None:
            # sendall's timeout bounds the whole call (Python 3.5+), not each chunk.
            self.sock.settimeout(left)
        super().send(s)
