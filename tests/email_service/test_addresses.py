"""Which addresses the app connects to, in what order, and the name it gives in EHLO."""

import ipaddress

import pytest

from webapp.email_service.addresses import (
    address_refusal,
    connect_first,
    default_helo_name,
    interleave,
)
from webapp.email_service.smtp_client import Deadline

from ..helpers import diagnose, failed

# This host's interface addresses as psutil might list them; passed in, never connected to.
OWN = ["127.0.0.1", "::1", "10.20.30.40", "fe80::1%eth0", "2001:db8::7"]


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.20.30.40", "an address of this server itself"),
        ("2001:db8::7", "an address of this server itself"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("::", "unspecified"),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::127.0.0.1", "loopback"),  # IPv4-compatible (::/96)
        ("::10.20.30.40", "an address of this server itself"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64 carrying 127.0.0.1
        ("64:ff9b::a14:1e28", "an address of this server itself"),  # NAT64 of 10.20.30.40
        ("64:ff9b::a9fe:a9fe", "link-local"),  # NAT64 of 169.254.169.254
        ("2002:7f00:1::", "loopback"),  # 6to4 carrying 127.0.0.1
        ("2002:a14:1e28::1", "an address of this server itself"),
        ("169.254.169.254", "link-local"),
        ("100.100.100.200", "cloud metadata"),
    ],
)
def test_addresses_that_reach_this_server_are_refused(address, reason):
    why = address_refusal(address, allow_loopback=False, own=OWN)
    assert why is not None and reason in why, why


@pytest.mark.parametrize(
    "address", ["203.0.113.9", "2001:db8::25", "64:ff9b::cb00:7109", "2002:cb00:7109::1"]
)
def test_other_addresses_are_allowed(address):
    # NAT64 and 6to4 carrying an ordinary public address are ordinary routes.
    assert address_refusal(address, allow_loopback=False, own=OWN) is None


def test_allow_loopback_also_allows_own_addresses():
    for address in ("127.0.0.1", "::1", "10.20.30.40", "64:ff9b::7f00:1"):
        assert address_refusal(address, allow_loopback=True, own=OWN) is None
    # Metadata services stay refused whatever the setting.
    assert address_refusal("169.254.169.254", allow_loopback=True, own=OWN)


def test_real_interface_addresses_are_refused_without_connecting():
    from webapp.email_service.addresses import own_addresses

    found = own_addresses()
    assert ipaddress.ip_address("127.0.0.1") in found
    for ip in found:
        assert address_refusal(str(ip), allow_loopback=False) is not None, ip


def test_families_are_interleaved_rfc8305_style():
    addresses = ["::1", "::2", "::3", "127.0.0.1", "127.0.0.2"]
    assert interleave(addresses) == ["::1", "127.0.0.1", "::2", "127.0.0.2", "::3"]
    assert interleave(["127.0.0.1", "::1"]) == ["127.0.0.1", "::1"]


def test_every_address_is_tried_until_one_answers(smtp_servers, closed_port):
    # "localhost" as Debian resolves it: ::1 first, and the server listens on 127.0.0.1 only.
    server = smtp_servers("plain")
    sock, attempts = connect_first(["::1", "127.0.0.1"], server.port, Deadline(3))
    try:
        assert sock is not None and sock.getpeername()[:2] == ("127.0.0.1", server.port)
        assert attempts == [("::1", "refused"), ("127.0.0.1", "connected")]
    finally:
        sock.close()
    sock, attempts = connect_first(["::1", "127.0.0.1"], closed_port, Deadline(3))
    assert sock is None and [outcome for _, outcome in attempts] == ["refused", "refused"]


def test_diagnosis_lists_each_address_tried(smtp_app, closed_port):
    result = diagnose(smtp_app, "127.0.0.1", closed_port, "none")
    failed(result, "connect", "refused")
    assert "tried 127.0.0.1 refused" in result.steps[-1].detail


def test_ehlo_name_is_a_name_or_an_address_literal(smtp_app, make_smtp_app, smtp_servers):
    server = smtp_servers("plain")
    result = diagnose(smtp_app, server, password=None)
    assert result.ok, result.as_dict()
    assert server.ehlo_names, server.commands
    name = server.ehlo_names[-1]
    # RFC 5321: a dotted name or [address]; never the bare "127.0.0.1" of BASE_URL.
    assert name == "[127.0.0.1]" or ("." in name and not name[0].isdigit()), name
    assert name == default_helo_name(_Sock())

    named = make_smtp_app(SMTP_HELO_NAME="bi.corp.example")
    assert diagnose(named, server, password=None).ok
    assert server.ehlo_names[-1] == "bi.corp.example"


class _Sock:
    """Stands in for a socket connected from 127.0.0.1 (only its local address is read)."""

    def getsockname(self):
        return ("127.0.0.1", 40000)
