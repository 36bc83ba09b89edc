"""A real MTA for tests: a private Postfix on 127.0.0.1 with Dovecot SASL and trustme TLS."""

import os
import pwd
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from .helpers import unavailable

HOST = "127.0.0.1"
LOGIN = "reports@example.com"
PASSWORD = "right-password-1"
OTHER_SENDER = "someone.else@example.com"
DOMAINS = ("example.com", "example.org", "example.net", "example.test", "corp.local")
INSTALL = "apt-get install postfix dovecot-core"

# Own queue and data directories: nothing is shared with a system Postfix or another run.
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
maillog_file = {dir}/postfix.log
maillog_file_prefixes = {dir}
myhostname = mta.test
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = {host}
inet_protocols = ipv4
smtpd_tls_cert_file = {dir}/cert.pem
smtpd_tls_key_file = {dir}/key.pem
smtpd_tls_loglevel = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/{socket}
smtpd_sender_login_maps = inline:{{ {login}={login} }}
virtual_mailbox_domains = {domains}
virtual_mailbox_base = {dir}
virtual_mailbox_maps = static:Maildir/
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
default_transport = error:the test MTA delivers nothing off this host
relay_transport = error:the test MTA delivers nothing off this host
local_transport = error:the test MTA delivers nothing off this host
"""

# Debian's stock services without chroot ("n" in the fifth column): the fresh queue
# directory has no chroot files. The first three lines are the test listeners.
TLS_OPTS = (
    " -o smtpd_sasl_auth_enable=yes -o smtpd_client_restrictions=permit_sasl_authenticated,reject"
    " -o smtpd_sender_restrictions=reject_sender_login_mismatch"
)
MASTER_CF = f"""\
{{host}}:{{plain}} inet n - n - - smtpd -o smtpd_sasl_auth_enable=no
  -o smtpd_tls_security_level=none
{{host}}:{{smtps}} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt{TLS_OPTS}
{{host}}:{{submission}} inet n - n - - smtpd -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes{TLS_OPTS}
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

# Each failed login still waits auth_failure_delay (2 s). The per-IP penalty is off: it
# grows 2-4-8-15 s across the whole session, also delays the next correct login, and past
# Postfix's fixed 10 s read timeout turns into "454 4.7.0 ... Connection lost".
DOVECOT_CONF = """\
base_dir = {dir}/dovecot-run
state_dir = {dir}/dovecot-state
instance_name = dovecot-{socket}
log_path = {dir}/dovecot.log
protocols = none
ssl = no
auth_mechanisms = plain login
auth_verbose = yes
passdb {{
  driver = passwd-file
  args = {dir}/passwd
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener {dir}/queue/private/{socket} {{
    user = postfix
    group = postfix
    mode = 0660
  }}
}}
"""


class MtaError(RuntimeError):
    """Postfix or Dovecot could not be started; the message quotes their output."""


def _tool(name):
    found = shutil.which(name)
    return found or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if Path(p).exists()), None
    )


def _run(*cmd, check=True, log=None):
    """Run ``cmd``; its output goes to a file, not a pipe a forked daemon would hold open."""
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=60)
        out.seek(0)
        output = out.read()
    if check and done.returncode:
        tail = log.read_text()[-3000:] if log and log.exists() else ""
        raise MtaError(f"{' '.join(map(str, cmd))} failed:\n{output}{tail}")
    return output


def _poll(condition, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(step)
    return result


def _alive(pid_file):
    """The pid in ``pid_file`` if that process runs, else None."""
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


@dataclass
class Mta:
    """A running Postfix: where to connect, whom to log in as, what it logged and delivered."""

    host: str
    plain_port: int
    smtps_port: int
    submission_port: int
    login: str
    password: str
    other_sender: str
    ca_bundle: Path
    domains: tuple
    log_file: Path
    maildir: Path

    def log_text(self):
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def log_mark(self):
        """A position in the log; ``log_since(mark)`` returns only what was written after it."""
        return self.log_file.stat().st_size if self.log_file.exists() else 0

    def log_since(self, mark):
        return self.log_file.read_bytes()[mark:].decode(errors="replace")

    def wait_for_log(self, pattern, timeout=10, *, since=0):
        """The first match of ``pattern`` after log mark ``since``, polled up to ``timeout`` s."""
        found = _poll(lambda: re.search(pattern, self.log_since(since), re.M), timeout)
        assert found, f"no {pattern!r} in the Postfix log:\n{self.log_since(since)[-3000:]}"
        return found

    def messages(self):
        """The raw bytes of every delivered message, oldest first."""
        files = [f for sub in ("new", "cur") for f in (self.maildir / sub).iterdir()]
        return [f.read_bytes() for f in sorted(files, key=lambda f: (f.stat().st_mtime, f.name))]

    def wait_for_messages(self, n, timeout=10):
        """All delivered messages, once there are at least ``n`` (counted over the session)."""
        assert _poll(lambda: len(self.messages()) >= n, timeout), (
            f"{len(self.messages())} messages delivered, expected {n}:\n{self.log_text()[-3000:]}"
        )
        return self.messages()

    def _greets(self, port):
        """Whether ``port`` answers an SMTP session (over TLS for SMTPS) and a QUIT."""
        try:
            if port == self.smtps_port:
                context = ssl.create_default_context(cafile=self.ca_bundle)
                smtplib.SMTP_SSL(self.host, port, timeout=2, context=context).quit()
            else:
                smtplib.SMTP(self.host, port, timeout=2).quit()
        except (OSError, smtplib.SMTPException):
            return False
        return True


def _stop(root, postfix, doveadm):
    """Stop this folder's Postfix and Dovecot, and wait until Postfix's master is gone."""
    master = _alive(root / "queue/pid/master.pid")
    if master:
        _run(postfix, "-c", root / "conf", "stop", check=False)
    if _alive(root / "dovecot-run/master.pid"):
        _run(doveadm, "-c", root / "dovecot.conf", "stop", check=False)  # waits 2-3 s
    _poll(lambda: not master or not _alive(root / "queue/pid/master.pid"), 10)


def _stop_stale():
    """SIGTERM Postfix/Dovecot masters left by a crashed session (its pytest pid is gone)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if (proc / "comm").read_text().strip() in ("master", "dovecot"):
                # Postfix runs in its queue folder, Dovecot in its base_dir, both in ours.
                found = re.match(
                    r"(/.+/pytest-of-[^/]+/pytest-\d+/mta\d+)/", os.readlink(proc / "cwd")
                )
                if found and not _alive(Path(found[1]) / "owner.pid"):
                    os.kill(int(proc.name), signal.SIGTERM)
        except (OSError, ValueError):
            continue


def let_postfix_in(root, base):
    """Let other users through pytest's 0700 folders: search only, no listing.

    Postfix opens ``data_directory/master.lock`` as "postfix", Dovecot's auth reads the
    passwd file as "dovecot". Pytest takes the bit off ``pytest-of-<user>`` at its next start.
    """
    for folder in {root, base, base.parent if base.parent.name.startswith("pytest-of-") else base}:
        folder.chmod(folder.stat().st_mode | 0o001)


def find_tools():
    """Paths of postfix, dovecot and doveadm; MtaError naming what is missing."""
    names = ("postfix", "dovecot", "doveadm")
    missing = [name for name in names if not _tool(name)]
    if missing:
        raise MtaError(f"no {', '.join(missing)}: {INSTALL}")
    return [_tool(name) for name in names]


def _require():
    try:
        return find_tools()
    except MtaError as exc:
        unavailable(str(exc))  # nothing skips in CI: there a missing MTA is a failure


def _free_port():
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _write_files(root, ports, socket_name, doveadm):
    ca = trustme.CA()
    ca.cert_pem.write_to_path(root / "ca.pem")
    cert = ca.issue_cert(HOST, "localhost")
    cert.private_key_pem.write_to_path(root / "key.pem")
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(root / "cert.pem", append=i > 0)
    hashed = _run(doveadm, "pw", "-s", "SHA512-CRYPT", "-p", PASSWORD).strip()
    (root / "passwd").write_text(f"{LOGIN}:{hashed}\n")
    # Not world-readable: the folders above are passable. Dovecot's auth runs as "dovecot".
    (root / "key.pem").chmod(0o600)
    (root / "passwd").chmod(0o640)
    shutil.chown(root / "passwd", group="dovecot")
    user = pwd.getpwnam("postfix")
    values = dict(dir=root, host=HOST, login=LOGIN, domains=" ".join(DOMAINS), socket=socket_name,
                  uid=user.pw_uid, gid=user.pw_gid, **ports)  # fmt: skip
    (root / "conf").mkdir()
    (root / "conf/main.cf").write_text(MAIN_CF.format(**values))
    (root / "conf/master.cf").write_text(MASTER_CF.format(**values))
    for name in ("main.cf", "master.cf"):  # Postfix waits ~2 s for a file this new to settle
        os.utime(root / "conf" / name, (time.time() - 10, time.time() - 10))
    (root / "dovecot.conf").write_text(DOVECOT_CONF.format(**values))
    (root / "queue").mkdir()
    # Postfix runs as the postfix user, and virtual(8) delivers as it; Dovecot puts its
    # socket into queue/private before Postfix starts.
    for folder in ("data", "queue/private", "Maildir", "Maildir/new", "Maildir/cur", "Maildir/tmp"):
        (root / folder).mkdir(mode=0o700)
        shutil.chown(root / folder, "postfix", "postfix")


def start_mta(root, tools):
    """Start Postfix + Dovecot configured in the empty folder ``root``: ``(Mta, stop)``.

    ``tools`` are the paths of postfix, dovecot and doveadm. MtaError if they do not start.
    """
    postfix_bin, dovecot_bin, doveadm = tools
    (root / "owner.pid").write_text(str(os.getpid()))
    ports = {name: _free_port() for name in ("plain", "smtps", "submission")}
    socket_name = f"pytest-auth-{uuid.uuid4().hex[:12]}"
    _write_files(root, ports, socket_name, doveadm)
    mta = Mta(
        host=HOST, plain_port=ports["plain"], smtps_port=ports["smtps"],
        submission_port=ports["submission"], login=LOGIN, password=PASSWORD,
        other_sender=OTHER_SENDER, ca_bundle=root / "ca.pem", domains=DOMAINS,
        log_file=root / "postfix.log", maildir=root / "Maildir",
    )  # fmt: skip
    try:
        _run(dovecot_bin, "-c", root / "dovecot.conf", log=root / "dovecot.log")
        _run(postfix_bin, "-c", root / "conf", "check", log=mta.log_file)
        _run(postfix_bin, "-c", root / "conf", "start", log=mta.log_file)
        sasl = root / "queue/private" / socket_name
        for port in ports.values():
            if not _poll(lambda port=port: sasl.exists() and mta._greets(port), 20, step=0.1):
                raise MtaError(
                    f"no SMTP on {HOST}:{port} (or no {sasl}):\n{mta.log_text()[-3000:]}"
                )
    except BaseException:
        _stop(root, postfix_bin, doveadm)
        raise
    return mta, lambda: _stop(root, postfix_bin, doveadm)


@pytest.fixture(scope="session")
def postfix(tmp_path_factory):
    """A private Postfix + Dovecot on loopback, stopped at the end of the session."""
    tools = _require()
    _stop_stale()
    root = tmp_path_factory.mktemp("mta")
    let_postfix_in(root, tmp_path_factory.getbasetemp())
    try:
        mta, stop = start_mta(root, tools)
    except MtaError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield mta
    finally:
        stop()
