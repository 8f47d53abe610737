"""QR codes for the screen: the qrcode library makes the matrix, Kivy shows it as a texture.

The texture has one pixel per module (with the 4-module quiet zone) and is scaled up with the
'nearest' filter, so the modules stay sharp at any size. Dark modules on white whatever the
theme: phone cameras read dark-on-light codes best.
"""
from __future__ import annotations

import qrcode
from qrcode.constants import ERROR_CORRECT_M

QUIET = 4


def qr_matrix(data: str) -> list[list[bool]]:
    q = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=QUIET)
    q.add_data(data)
    q.make(fit=True)
    return q.get_matrix()


def qr_rgba(data: str) -> tuple[int, bytes]:
    """(side in modules incl. quiet zone, RGBA bytes top row first). RGBA, not RGB: rows of
    4-byte pixels never hit OpenGL's 4-byte row alignment problem."""
    m = qr_matrix(data)
    n = len(m)
    out = bytearray()
    for row in m:
        for dark in row:
            out += b"\x00\x00\x00\xff" if dark else b"\xff\xff\xff\xff"
    return n, bytes(out)


def qr_texture(data: str):
    from kivy.graphics.texture import Texture

    n, rgba = qr_rgba(data)
    tex = Texture.create(size=(n, n), colorfmt="rgba")
    tex.mag_filter = "nearest"
    tex.min_filter = "nearest"
    # Kivy's texture origin is bottom-left: flip the rows.
    stride = n * 4
    flipped = b"".join(rgba[i * stride:(i + 1) * stride] for i in range(n - 1, -1, -1))
    tex.blit_buffer(flipped, colorfmt="rgba", bufferfmt="ubyte")
    return tex
