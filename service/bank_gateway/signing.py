"""HMAC request signing between the service and custody banks (docs/api.md,
"Who calls, and how they prove it").

One function builds the signature; the same code verifies inbound bank calls, signs our
outbound instructions, and is what the bank simulator uses.
"""

from __future__ import annotations

import hashlib
import hmac


def signature(secret: str, *, timestamp: str, method: str, path_and_query: str, body: bytes) -> str:
    message = f"{timestamp}\n{method.upper()}\n{path_and_query}\n{hashlib.sha256(body).hexdigest()}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signed_headers(
    secret: str, *, bank_id: str, timestamp: int, method: str, path_and_query: str, body: bytes
) -> dict[str, str]:
    ts = str(timestamp)
    return {
        "X-Bank-Id": bank_id,
        "X-Timestamp": ts,
        "X-Signature": signature(
            secret, timestamp=ts, method=method, path_and_query=path_and_query, body=body
        ),
    }


def verify(
    secret: str,
    *,
    timestamp: str,
    method: str,
    path_and_query: str,
    body: bytes,
    given: str,
    now: int,
    window: int,
) -> bool:
    """Constant-time check of a signature and its freshness."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > window:
        return False
    expected = signature(
        secret, timestamp=timestamp, method=method, path_and_query=path_and_query, body=body
    )
    # As bytes: a header may carry any character, and compare_digest refuses non-ASCII text.
    return hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace"))
