"""The log's signing key and its witnesses, from the settings: what signs checkpoints, whom the
log asks for cosignatures, and what `/.well-known/tuitionguard-log-keys` publishes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.config import PLACEHOLDER_LOG_KEY, Settings
from service.proofs.signing import verifier
from tgproof import note


@dataclass(frozen=True, slots=True, kw_only=True)
class WitnessEndpoint:
    verifier: note.Verifier
    url: str  # where its `POST /add-checkpoint` is served


def log_key(settings: Settings) -> Ed25519PrivateKey:
    """The key that signs checkpoints. The development placeholder is a public seed (anyone
    can sign as that log); `Settings` refuses it outside development."""
    if settings.log_signing_key == PLACEHOLDER_LOG_KEY:
        seed = hashlib.sha256(PLACEHOLDER_LOG_KEY.encode()).digest()
    else:
        seed = bytes.fromhex(settings.log_signing_key)
    return Ed25519PrivateKey.from_private_bytes(seed)


def log_verifier(settings: Settings) -> note.Verifier:
    return verifier(settings.log_origin, log_key(settings), note.LOG_KEY_TYPE)


def witnesses(settings: Settings) -> list[WitnessEndpoint]:
    """`LOG_WITNESSES`: `vkey@url` separated by commas (a vkey holds no `@`)."""
    found = []
    for item in settings.log_witnesses.split(","):
        if not item.strip():
            continue
        vkey, sep, url = item.strip().partition("@")
        if not sep or not url.startswith(("http://", "https://")):
            raise ValueError(f"LOG_WITNESSES: {item.strip()[:60]!r} is not vkey@http(s)://…")
        found.append(
            WitnessEndpoint(
                verifier=note.parse_vkey(vkey, note.COSIGNATURE_KEY_TYPE), url=url.rstrip("/")
            )
        )
    return found


def quorum(settings: Settings) -> int:
    """Cosignatures a checkpoint needs to count: `LOG_QUORUM`, by default every witness."""
    listed = len(witnesses(settings))
    return listed if settings.log_quorum is None else settings.log_quorum


def keys(settings: Settings) -> note.Keys:
    found = tuple(w.verifier for w in witnesses(settings))
    return note.Keys(log_verifier(settings), found, quorum(settings))


def published(settings: Settings) -> dict[str, Any]:
    """`/.well-known/tuitionguard-log-keys` (docs/proofs.md §5)."""
    k = keys(settings)
    return {"log": k.log.vkey(), "witnesses": [w.vkey() for w in k.witnesses], "quorum": k.quorum}
