"""Test Connection's elapsed time: a silent server and a closed port against a working server."""

import argparse
import logging
import statistics
import tempfile
import time
import warnings

from _common import build_app, dispose, free_port, machine_line, print_table, verdict

from webapp.email_service.diagnosis import diagnose_connection
from webapp.email_service.transport import SmtpParams

CLOSED_PORT_BOUND = 1.0  # seconds: a refused connection is reported at once
SILENT_MARGIN = 1.0  # seconds over SMTP_TIMEOUT allowed when the server never greets


def parse_args():
    """Sizes of the run; the defaults are the figures quoted in the project notes."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5, help="runs of each quick case")
    parser.add_argument(
        "--timeouts",
        type=float,
        nargs="+",
        default=[2.0, 3.0],
        help="SMTP_TIMEOUT values tried against the silent server",
    )
    return parser.parse_args()


def diagnose(app, timeout, host, port, security, login="", password=None, test_email=None):
    """One Test Connection inside the app: (seconds, the Diagnosis)."""
    from tests.smtp_servers import LOGIN

    app.config["SMTP_TIMEOUT"] = timeout
    params = SmtpParams(host, port, security, login, password)
    with app.app_context():
        started = time.monotonic()
        result = diagnose_connection(params, sender_email=LOGIN, test_email=test_email)
        return time.monotonic() - started, result


def outcome(result):
    """``ok`` or the failed step and kind, as the page would name them."""
    return "ok" if result.ok else f"{result.failed_step}: {result.kind}"


def measure(app, server, silent, args):
    """Rows of (case, runs, seconds, outcome, bound or None)."""
    from tests.smtp_servers import HOST, LOGIN, PASSWORD

    rows = []
    working = dict(host=HOST, port=server.port, security="none", login=LOGIN, password=PASSWORD)
    for name, extra in (
        ("baseline: working server, connect + login", {}),
        ("baseline: working server, + test email", {"test_email": "ops@example.com"}),
    ):
        runs = [diagnose(app, 10, **working, **extra) for _ in range(args.runs)]
        rows.append((name, runs, None))
    for timeout in args.timeouts:
        for security in ("none", "ssl"):
            if security == "ssl" and timeout != args.timeouts[0]:
                continue  # implicit TLS fails the same way at any timeout; once is enough
            run = diagnose(app, timeout, HOST, silent.port, security)
            name = f"silent server, security={security}, SMTP_TIMEOUT={timeout:g}"
            rows.append((name, [run], timeout + SILENT_MARGIN))
    closed = free_port()
    runs = [diagnose(app, 10, HOST, closed, "none") for _ in range(args.runs)]
    rows.append(("closed port, SMTP_TIMEOUT=10", runs, CLOSED_PORT_BOUND))
    return rows


def print_results(rows):
    """Median and worst elapsed time of each case, its bound, and whether it was met."""
    baseline = statistics.median(seconds for seconds, _ in rows[0][1])
    table = []
    verdicts = []
    for name, runs, bound in rows:
        times = [seconds for seconds, _ in runs]
        worst = max(times)
        outcomes = sorted({outcome(result) for _, result in runs})
        met = "-" if bound is None else verdict(worst <= bound)
        table.append(
            (
                name,
                f"{len(runs)}",
                f"{statistics.median(times):.3f}",
                f"{worst:.3f}",
                f"{worst / baseline:,.0f}",
                "-" if bound is None else f"<= {bound:g}",
                met,
                ", ".join(outcomes),
            )
        )
        if bound is not None:
            verdicts.append((name, worst, bound))
    print_table(
        [
            ("case", 44),
            ("runs", 4),
            ("median s", 8),
            ("max s", 6),
            ("x base", 6),
            ("bound s", 7),
            ("target", 7),
            ("outcome (failed step: kind)", 28, "<"),
        ],
        table,
    )
    print()
    for name, worst, bound in verdicts:
        print(f"target: {name} within {bound:g} s: {worst:.3f} s -> {verdict(worst <= bound)}")


def main():
    """The real app's Test Connection against three servers on 127.0.0.1."""
    args = parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)  # aiosmtpd: AUTH without TLS
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    from tests.smtp_servers import SilentServer, SmtpServer

    print(machine_line())
    print(
        "servers: aiosmtpd (tests.smtp_servers.SmtpServer, plain SMTP with AUTH) in this"
        " process; SilentServer (accepts, never greets); a closed port. All on 127.0.0.1."
    )
    print("each case: diagnose_connection() inside the app context, timed with time.monotonic()")
    with tempfile.TemporaryDirectory(prefix="bench-test-connection-") as instance:
        app = build_app(instance, SMTP_ALLOW_LOOPBACK=True)
        server = SmtpServer("plain", auth=True).start()
        silent = SilentServer()
        try:
            rows = measure(app, server, silent, args)
        finally:
            silent.close()
            server.stop()
            dispose(app)
    print()
    print_results(rows)


if __name__ == "__main__":
    main()
