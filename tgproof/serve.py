"""`tuitionguard witness serve`: a witness over HTTP (C2SP tlog-witness: `POST /add-checkpoint`),
a small process apart from the service with its own key and SQLite file, and
`tuitionguard witness key` to make a key. Only the standard library's HTTP server: a bank or a
bureau can run it from this package alone."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tgproof import note
from tgproof.witness import Witness

MAX_BODY = 64 * 1024  # a checkpoint and a consistency proof of a log of 2^64 entries fit


def write_key(path: str) -> Ed25519PrivateKey:
    """A new private key, its 32-byte seed in hex, readable by the owner only."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(seed.hex() + "\n")
    return key


def read_key(path: str) -> Ed25519PrivateKey:
    with open(path, encoding="ascii") as f:
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(f.read().strip()))


def log_key_from(url: str) -> note.Verifier:
    """The log's vkey, from its site's `/.well-known/tuitionguard-log-keys`."""
    if not url.startswith(("https://", "http://")):
        raise ValueError("the log's URL is http(s)://…")
    where = url.rstrip("/") + "/.well-known/tuitionguard-log-keys"
    with urllib.request.urlopen(where, timeout=10) as answer:  # noqa: S310 (scheme checked above)
        found = json.loads(answer.read())
    return note.parse_vkey(str(found["log"]), note.LOG_KEY_TYPE)


def handler_for(witness: Witness) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/add-checkpoint":
                return self._answer(404, "not found\n", "text/plain; charset=utf-8")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._answer(413, "body too large or empty\n", "text/plain; charset=utf-8")
            try:
                text = self.rfile.read(length).decode("utf-8")
            except UnicodeDecodeError:
                return self._answer(400, "not UTF-8\n", "text/plain; charset=utf-8")
            found = witness.add_checkpoint(text, now=int(time.time()))
            return self._answer(found.status, found.body, found.content_type)

        def _answer(self, status: int, body: str, content_type: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def make_server(witness: Witness, host: str, port: int) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), handler_for(witness))
