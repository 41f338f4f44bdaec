"""A client's address as the throttles count it."""

from __future__ import annotations

import ipaddress


def address_key(host: str) -> str:
    """One client's address: an IPv4 address as it is; an IPv6 address by its /64, since one
    subscriber (a phone on a mobile network, a home) is given a whole /64 and may send from
    any of its 2^64 addresses; an IPv4-mapped IPv6 address as its IPv4 address. Anything that
    is not an address (a test client's name) is taken as given."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
