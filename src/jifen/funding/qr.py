"""QR codes (segno): a reservation's pickup code and a household's card.

A QR code holds exactly what the counter accepts when a barcode scanner types it: the 6-digit pickup code,
or the household's code. Nothing is added around it, so scanning into the counter's field just works."""

from __future__ import annotations

import io

import segno

# M (15% recovery): a printed card survives a crease or a smudge and stays small enough to scan easily
ERROR_LEVEL = "m"


def make(text: str) -> segno.QRCode:
    return segno.make(text, error=ERROR_LEVEL, micro=False, boost_error=False)


def qr_svg(
    text: str, *, scale: int = 8, border: int = 4, inline: bool = False, title: str | None = None
) -> str:
    """The QR code of `text` as an SVG document (`inline=True`: without the XML declaration, for a page);
    `title` names the image for screen readers (default: the text itself)."""
    buffer = io.BytesIO()
    make(text).save(
        buffer,
        kind="svg",
        scale=scale,
        border=border,
        xmldecl=not inline,
        svgns=True,
        nl=False,
        title=title or text,
    )
    return buffer.getvalue().decode("utf-8")


def qr_png(text: str, *, scale: int = 8, border: int = 4) -> bytes:
    """The QR code of `text` as a PNG image (black on white)."""
    buffer = io.BytesIO()
    make(text).save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()
