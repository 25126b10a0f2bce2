"""This computer's address on the local network: the one a phone on the same Wi-Fi reaches."""

from __future__ import annotations

import contextlib
import ipaddress
import socket

DEFAULT_PORT = 8765
ALL_INTERFACES = ("0.0.0.0", "::", "")
# A documentation address (RFC 5737): the routing table is asked which of our addresses
# would reach it; a UDP socket's connect() sends nothing.
_PROBE = ("192.0.2.1", 9)


def network_address() -> str | None:
    """The IPv4 address this computer leaves by (its default route), or one its host name
    has that is not loopback; None when it has none: not connected to a network."""
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe,
    ):
        probe.connect(_PROBE)
        found = probe.getsockname()[0]
        if _reachable(found):
            return str(found)
    with contextlib.suppress(OSError):
        for *_, address in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            if _reachable(str(address[0])):
                return str(address[0])
    return None


def _reachable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_unspecified or ip.is_link_local)


def url_host(host: str) -> str:
    """A host as it stands in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# The feed file's links without --base-url: this computer, where `practice serve` listens
# by default. `serve` hands the feed out with its links at the address a phone used.
LOCAL_BASE_URL = f"http://127.0.0.1:{DEFAULT_PORT}"
