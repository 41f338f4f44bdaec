"""The QR code an institution prints at enrolment: the parent's sign-in link (segno)."""

from __future__ import annotations

import io

import segno


def qr_svg(link: str) -> bytes:
    out = io.BytesIO()
    segno.make(link, error="m").save(
        out, kind="svg", scale=6, border=2, title="TuitionGuard", xmldecl=False
    )
    return out.getvalue()
