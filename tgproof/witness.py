"""A witness (docs/proofs.md §5; C2SP `tlog-witness` `add-checkpoint`): it keeps, per log, the
last checkpoint it cosigned in its own SQLite file, and cosigns a new one only when the log's
signature holds and a consistency proof shows it extends the kept one. A fork or a rollback is
refused and the witness keeps its own. It stands apart from the service: a bank or a bureau
runs it with its own key."""

from __future__ import annotations

import base64
import sqlite3
import threading
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tgproof import log, note
from tgproof.errors import ProofError


def cosignature(body: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """A tlog-cosignature/v1 line over a checkpoint body at unix time `timestamp`."""
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    kid = note.key_id(name, note.COSIGNATURE_KEY_TYPE, public)
    signed = key.sign(note.cosigned_message(body, timestamp))
    blob = kid + timestamp.to_bytes(8, "big") + signed
    return f"{note.SIGNATURE_DASH}{name} {base64.b64encode(blob).decode()}\n"


def public_vkey(name: str, key: Ed25519PrivateKey, key_type: int) -> str:
    public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return note.Verifier(name, key_type, public).vkey()


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: status, body, content type."""

    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True, slots=True)
class Request:
    old_size: int
    proof: list[bytes]
    checkpoint: str


def parse_request(text: str) -> Request:
    """`old <size>`, the consistency proof's hashes in base64 one per line, an empty line,
    then the signed checkpoint."""
    head, sep, checkpoint = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise ProofError("an add-checkpoint request starts with `old <size>` and a blank line")
    size = lines[0][4:]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise ProofError("old size is not a decimal number")
    proof = [note.b64(line) for line in lines[1:]]
    return Request(int(size), proof, checkpoint)


class Witness:
    """One witness: its name and key, the logs it follows (their vkeys, by origin) and its
    SQLite file of the last checkpoint cosigned per origin."""

    def __init__(
        self, name: str, key: Ed25519PrivateKey, logs: list[note.Verifier], path: str
    ) -> None:
        self.name, self.key = name, key
        self.logs = {v.name: v for v in logs}
        self.lock = threading.Lock()  # one connection, shared by the server's threads
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS latest (origin TEXT PRIMARY KEY, size INTEGER NOT NULL,"
            " root BLOB NOT NULL, note TEXT NOT NULL)"
        )

    def latest(self, origin: str) -> tuple[int, bytes]:
        row = self.db.execute(
            "SELECT size, root FROM latest WHERE origin = ?", (origin,)
        ).fetchone()
        return (int(row[0]), bytes(row[1])) if row else (0, log.EMPTY_ROOT)

    def add_checkpoint(self, text: str, now: int) -> Answer:
        """C2SP add-checkpoint: 200 with the cosignature line; 400 malformed; 403 not signed by
        the log; 404 an unknown log; 409 (with the size it keeps) when `old` is not the size it
        keeps, the checkpoint is smaller (a rollback) or no valid consistency proof shows it
        extends the kept one (a fork; docs/proofs.md §5 says 409 where C2SP says 422)."""
        try:
            request = parse_request(text)
            body, signatures = note.split_note(request.checkpoint)
            checkpoint = note.parse_checkpoint(body)
        except ProofError as e:
            return Answer(400, f"{e}\n")
        known = self.logs.get(checkpoint.origin)
        if known is None:
            return Answer(404, "unknown log\n")
        if not note.signed_by(known, body, signatures):
            return Answer(403, "not signed by the log's key\n")
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")  # and one writer per file, across processes
            try:
                answer = self._extend(checkpoint, request, body, now)
            finally:
                self.db.execute("COMMIT")
        return answer

    def _extend(self, checkpoint: note.Checkpoint, request: Request, body: str, now: int) -> Answer:
        size, root = self.latest(checkpoint.origin)
        conflict = Answer(409, f"{size}\n", "text/x.tlog.size")
        if request.old_size != size or checkpoint.size < size:
            return conflict  # a stale view of what this witness holds, or a rollback
        if checkpoint.size == size:
            return conflict if checkpoint.root != root or request.proof else self._cosign(body, now)
        try:
            log.verify_consistency(size, checkpoint.size, request.proof, root, checkpoint.root)
        except ProofError:
            return conflict  # a fork: nothing shows it extends what this witness cosigned
        self.db.execute(
            "INSERT INTO latest (origin, size, root, note) VALUES (?, ?, ?, ?) ON CONFLICT(origin)"
            " DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note",
            (checkpoint.origin, checkpoint.size, checkpoint.root, request.checkpoint),
        )
        return self._cosign(body, now)

    def _cosign(self, body: str, now: int) -> Answer:
        return Answer(200, cosignature(body, self.name, self.key, now))
