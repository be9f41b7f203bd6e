"""Client addresses as the flood limits count them.

An IPv4 address is one client; an IPv6 client usually holds a whole /64 (and can pick any
address in it), so IPv6 addresses count per /64. An IPv4 address mapped into IPv6 counts as
itself. Anything that is not an address (a test client's name) counts as given, cut to 100
characters.
"""

from __future__ import annotations

import ipaddress

#: The IPv6 prefix that counts as one client.
IPV6_PREFIX = 64


def address_group(host: str | None) -> str | None:
    """The key one client's requests are counted under; None when there is no address."""
    if not host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:100]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        # Without any scope (`%eth0`): the network is the same whatever the interface.
        network = ipaddress.IPv6Network(
            (int(ip) >> (128 - IPV6_PREFIX) << (128 - IPV6_PREFIX), IPV6_PREFIX)
        )
        return str(network)
    return str(ip)


def is_loopback(host: str) -> bool:
    """Whether a server bound to `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
