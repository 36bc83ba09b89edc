"""Which addresses the app may connect to, and reaching the first of them that answers."""

import ipaddress
import socket
import threading

import psutil
from flask_babel import gettext

from .replies import StepFailed

# Cloud metadata services outside the link-local range (AWS IPv6, Alibaba Cloud).
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # Linux routes it to this host itself
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def _ip(address):
    return ipaddress.ip_address(str(address).split("%")[0])


def own_addresses():
    """Every address of this host's network interfaces (psutil), loopback included."""
    found = set()
    for entries in psutil.net_if_addrs().values():
        for entry in entries:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                try:
                    found.add(_ip(entry.address))
                except ValueError:
                    continue
    return found


def embedded_ipv4(ip):
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), or None."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip in NAT64 or (ip in IPV4_COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(address, allow_loopback, own=None):
    """Why ``address`` must not be connected to, or None when it may be.

    ``own`` is this host's interface addresses (``own_addresses()`` when None): they reach
    services bound to 0.0.0.0 on this very server, as loopback would.
    """
    ip = _ip(address)
    carried = embedded_ipv4(ip)
    if carried is not None:
        why = address_refusal(carried, allow_loopback, own)
        return gettext("%(why)s, carried inside an IPv6 address", why=why) if why else None
    if ip in METADATA_ADDRESSES:
        return gettext("a cloud metadata service")
    if ip.is_link_local:
        return gettext("link-local (where cloud metadata services live)")
    if ip.is_multicast:
        return gettext("multicast")
    if ip.is_unspecified or ip in THIS_NETWORK:
        return gettext("unspecified (0.0.0.0/8 or ::), which reaches this server itself")
    if ip.version == 4 and (ip.is_reserved or ip == ipaddress.ip_address("255.255.255.255")):
        return gettext("reserved")
    if allow_loopback:
        return None
    if ip.is_loopback:
        return gettext("loopback (this server itself; set SMTP_ALLOW_LOOPBACK=1 to allow)")
    if ip in (own_addresses() if own is None else {_ip(a) for a in own}):
        return gettext("an address of this server itself (set SMTP_ALLOW_LOOPBACK=1 to allow)")
    return None


def interleave(addresses):
    """Addresses in RFC 8305 order: the first family first, then alternating families."""
    by_family = {}
    for address in addresses:
        by_family.setdefault(_ip(address).version, []).append(address)
    first = _ip(addresses[0]).version if addresses else 6
    queues = [by_family.get(first, []), by_family.get(10 - first, [])]  # 6 ↔ 4
    ordered = []
    for index in range(max(map(len, queues))):
        ordered.extend(queue[index] for queue in queues if index < len(queue))
    return ordered


def connect_first(addresses, port, deadline):
    """A socket connected to the first address that answers, and what each attempt gave.

    Each attempt gets an equal share of the time left, so one silent address cannot use
    up the others' time. Returns ``(sock or None, [(address, outcome), …])``.
    """
    attempts = []
    for index, address in enumerate(addresses):
        left = deadline.left()
        if left <= 0:
            break
        family = socket.AF_INET6 if _ip(address).version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(left / (len(addresses) - index))
        try:
            sock.connect((address, port))
        except TimeoutError:
            attempts.append((address, "timeout"))
        except ConnectionRefusedError:
            attempts.append((address, "refused"))
        except OSError as exc:
            attempts.append((address, exc.strerror or "unreachable"))
        else:
            attempts.append((address, "connected"))
            return sock, attempts
        sock.close()
    return None, attempts


def resolve_within(host, port, seconds):
    """The addresses ``host`` resolves to, in the resolver's order; StepFailed past ``seconds``.

    A stuck resolver cannot be interrupted, so it runs in a daemon thread we stop waiting for.
    """
    outcome = {}

    def lookup():
        try:
            outcome["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, daemon=True, name="smtp-resolve")
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise StepFailed("resolve", "dns_timeout", detail=gettext("no answer from DNS in time"))
    if "error" in outcome:
        raise StepFailed("resolve", "dns", detail=str(outcome["error"]))
    return list(dict.fromkeys(info[4][0] for info in outcome["infos"]))


_FQDN = {}
_FQDN_LOCK = threading.Lock()


def _machine_fqdn(wait=0.5):
    """``socket.getfqdn()``, looked up once per process; "" while it takes over ``wait`` s.

    It asks reverse DNS, which can hang on a badly configured network: a conversation
    then uses the address literal instead of waiting.
    """
    with _FQDN_LOCK:  # sessions start in parallel: one lookup, started before anyone waits
        if "thread" not in _FQDN:
            thread = threading.Thread(
                target=lambda: _FQDN.setdefault("name", socket.getfqdn()), daemon=True
            )
            thread.start()
            _FQDN["thread"] = thread
    _FQDN["thread"].join(wait)
    return _FQDN.get("name", "")


def default_helo_name(sock):
    """This machine's FQDN when it has a dot, else the socket's address literal (RFC 5321)."""
    name = _machine_fqdn()
    if "." in name and not _is_ip(name):
        return name
    local = _ip(sock.getsockname()[0])
    return f"[IPv6:{local}]" if local.version == 6 else f"[{local}]"


def _is_ip(text):
    try:
        _ip(text)
    except ValueError:
        return False
    return True
