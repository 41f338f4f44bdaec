"""Checkpoints as C2SP signed notes (docs/proofs.md §5): parsing the body and the signature
lines, C2SP vkeys, the log's Ed25519 signature and the witnesses' cosignatures
(`tlog-cosignature`), and the quorum rule."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tgproof.errors import ProofError

LOG_KEY_TYPE = 0x01  # Ed25519 signed-note signature
COSIGNATURE_KEY_TYPE = 0x04  # tlog-cosignature/v1
SIGNATURE_DASH = "\u2014 "
_NAME = re.compile(r"[^\s+]+")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    blob: bytes  # key ID || [u64be(time) ||] signature


@dataclass(frozen=True, slots=True)
class Verifier:
    """A C2SP vkey: a name, a key type (0x01 the log, 0x04 a witness) and an Ed25519 key."""

    name: str
    key_type: int
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.key_type, self.public_key)

    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([self.key_type]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


@dataclass(frozen=True, slots=True)
class Keys:
    """What `/.well-known/tuitionguard-log-keys` publishes."""

    log: Verifier
    witnesses: tuple[Verifier, ...]
    quorum: int


def key_id(name: str, key_type: int, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([key_type]) + public_key).digest()[:4]


def b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ProofError(f"not standard base64: {text[:40]!r}") from e


def parse_vkey(text: str, key_type: int) -> Verifier:
    parts = text.split("+", 2)
    if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
        raise ProofError(f"not a vkey: {text[:60]!r}")
    raw = b64(parts[2])
    if len(raw) != 33 or raw[0] != key_type:
        raise ProofError(f"vkey {parts[0]} is not an Ed25519 key of type {key_type:#04x}")
    found = Verifier(parts[0], key_type, raw[1:])
    if parts[1] != found.key_id.hex():
        raise ProofError(f"vkey {parts[0]}: its key ID does not match its key")
    return found


def parse_keys(text: str) -> Keys:
    try:
        data = json.loads(text)
        log, witnesses, quorum = data["log"], data["witnesses"], data["quorum"]
    except (ValueError, KeyError, TypeError) as e:
        raise ProofError("the keys are not {log, witnesses, quorum}") from e
    if not isinstance(quorum, int) or isinstance(quorum, bool) or quorum < 0:
        raise ProofError("quorum is not a whole number")
    if not isinstance(log, str) or not isinstance(witnesses, list):
        raise ProofError("the keys are not {log, witnesses, quorum}")
    found = tuple(parse_vkey(str(w), COSIGNATURE_KEY_TYPE) for w in witnesses)
    return Keys(parse_vkey(log, LOG_KEY_TYPE), found, quorum)


def split_note(text: str) -> tuple[str, list[Signature]]:
    """A signed note's body (with its final newline) and its signature lines."""
    body, sep, block = text.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise ProofError("not a signed note: no blank line before the signatures")
    signatures = [_signature_line(line) for line in block[:-1].split("\n")]
    return body + "\n", signatures


def _signature_line(line: str) -> Signature:
    if not line.startswith(SIGNATURE_DASH):
        raise ProofError(f"not a signature line: {line[:60]!r}")
    name, _, encoded = line[len(SIGNATURE_DASH) :].partition(" ")
    if not _NAME.fullmatch(name):
        raise ProofError(f"bad key name in a signature line: {line[:60]!r}")
    blob = b64(encoded)
    if len(blob) < 5:
        raise ProofError("a signature line too short")
    return Signature(name, blob)


def parse_checkpoint(body: str) -> Checkpoint:
    """The three lines of a checkpoint's body: origin, size, root (standard padded base64)."""
    lines = body.split("\n")
    if len(lines) != 4 or lines[3] != "" or not lines[0]:
        raise ProofError("a checkpoint body is three lines: origin, size, root")
    if not _DECIMAL.fullmatch(lines[1]):
        raise ProofError(f"checkpoint size is not a decimal number: {lines[1]!r}")
    root = b64(lines[2])
    if len(root) != 32:
        raise ProofError("checkpoint root is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root)


def cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def _ed25519_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


def signed_by(verifier: Verifier, body: str, signatures: Sequence[Signature]) -> bool:
    for sig in signatures:
        if sig.name != verifier.name or sig.blob[:4] != verifier.key_id:
            continue
        if verifier.key_type == LOG_KEY_TYPE and len(sig.blob) == 68:
            if _ed25519_ok(verifier.public_key, sig.blob[4:], body.encode()):
                return True
        elif verifier.key_type == COSIGNATURE_KEY_TYPE and len(sig.blob) == 76:
            stamp = int.from_bytes(sig.blob[4:12], "big")
            if _ed25519_ok(verifier.public_key, sig.blob[12:], cosigned_message(body, stamp)):
                return True
    return False


def verify_checkpoint(text: str, keys: Keys) -> Checkpoint:
    """The checkpoint, if it carries the log's signature and at least `quorum` distinct
    witnesses' cosignatures; unknown signature lines are ignored, as C2SP says."""
    body, signatures = split_note(text)
    checkpoint = parse_checkpoint(body)
    if checkpoint.origin != keys.log.name:
        raise ProofError(f"checkpoint origin {checkpoint.origin!r} is not the log's key name")
    if not signed_by(keys.log, body, signatures):
        raise ProofError("the checkpoint does not carry a valid signature of the log's key")
    cosigned = {w.vkey() for w in keys.witnesses if signed_by(w, body, signatures)}
    if len(cosigned) < keys.quorum:
        raise ProofError(
            f"the checkpoint has {len(cosigned)} valid witness cosignatures, "
            f"fewer than the quorum of {keys.quorum}"
        )
    return checkpoint
