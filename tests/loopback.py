"""Tests, benchmarks and probes reach 127.0.0.0/8 and ::1 only: an audit hook that says no.

``tests/conftest.py`` installs ``loopback_only`` for the whole run. It refuses a socket
connection to any other address, and a look-up of any name but localhost (it would ask
DNS), before anything leaves the machine.
"""

import ipaddress
import socket

OFF_LOOPBACK = []  # every attempt to reach past 127.0.0.0/8 and ::1, for the session's end


class OffLoopback(Exception):
    """A test tried to reach an address other than 127.0.0.0/8 or ::1 (not an OSError, so
    no code under test mistakes it for a network failure)."""


def _host_text(host):
    return host.decode(errors="replace") if isinstance(host, bytes) else str(host or "")


def _ip(host):
    try:
        return ipaddress.ip_address(_host_text(host).split("%")[0])
    except ValueError:
        return None


def _local(host):
    """A loopback address, or no host at all (a name is not: resolving it may ask DNS)."""
    if _host_text(host) in ("", "localhost"):
        return True
    ip = _ip(host)
    return ip is not None and ip.is_loopback


def loopback_only(event, args):
    """Audit hook: refuse socket connections (and DNS look-ups) that would leave the host."""
    if event == "socket.connect":
        sock, address = args
        reaching = sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0])
    elif event == "socket.getaddrinfo":
        host = args[0]
        # An address given literally is looked up without DNS; a name other than localhost
        # is not.
        reaching = not _local(host) and _ip(host) is None
    else:
        return
    if reaching:
        OFF_LOOPBACK.append(f"{event} {args[1] if event == 'socket.connect' else args[0]!r}")
        raise OffLoopback(f"tests reach 127.0.0.0/8 and ::1 only: {OFF_LOOPBACK[-1]}")
