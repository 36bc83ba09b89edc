"""The run reaches 127.0.0.0/8 and ::1 only: the guard refuses anything else, before it leaves."""

import socket
import sys

import pytest

from .loopback import OFF_LOOPBACK, OffLoopback, loopback_only


@pytest.fixture
def unconnected():
    with socket.socket(socket.AF_INET6) as six, socket.socket(socket.AF_INET) as four:
        yield {4: four, 6: six}


@pytest.mark.parametrize(
    ("family", "host"), [(4, "192.0.2.1"), (6, "2001:db8::1"), (4, "10.1.2.3")]
)
def test_a_connection_off_loopback_is_refused(unconnected, family, host):
    with pytest.raises(OffLoopback, match=host):
        loopback_only("socket.connect", (unconnected[family], (host, 25)))
    assert OFF_LOOPBACK.pop().endswith(f"('{host}', 25)")


@pytest.mark.parametrize(("family", "host"), [(4, "127.0.0.1"), (4, "127.9.9.9"), (6, "::1")])
def test_loopback_connections_pass(unconnected, family, host):
    assert loopback_only("socket.connect", (unconnected[family], (host, 25))) is None


@pytest.mark.parametrize("host", ["smtp.example.com", b"mail.corp.local", "qq.com"])
def test_a_name_that_would_ask_dns_is_refused(host):
    with pytest.raises(OffLoopback):
        loopback_only("socket.getaddrinfo", (host, 25, 0, 1, 0))
    OFF_LOOPBACK.pop()


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "::1", "169.254.169.254", None])
def test_literal_addresses_and_localhost_are_looked_up_locally(host):
    assert loopback_only("socket.getaddrinfo", (host, 25, 0, 1, 0)) is None


def test_the_guard_is_installed_for_the_whole_run():
    # sys.audit raises the same event a real look-up would, without looking anything up.
    with pytest.raises(OffLoopback):
        sys.audit("socket.getaddrinfo", "guard-check.invalid", 25, 0, 1, 0)
    assert OFF_LOOPBACK.pop().startswith("socket.getaddrinfo 'guard-check.invalid'")
