"""QR codes drawn on the server as SVG (segno; no script, no CDN): the parent's sign-in link
an institution prints at enrolment, and the otpauth:// link an officer's authenticator app
scans."""

from __future__ import annotations

import io

import segno


def qr_svg(link: str, *, title: str = "TuitionGuard") -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m").save(out, kind="svg", scale=6, border=2, title=title, xmldecl=False)
    return out.getvalue()
