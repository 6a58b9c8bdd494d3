"""QR codes drawn as inline SVG (served by us: no image service, no external CDN).

The one QR helper of the project: hosted checkout and receipt pages, and the admin's card
programming and wipe links.
"""
from __future__ import annotations

from functools import lru_cache

import qrcode
from django.utils.safestring import SafeString, mark_safe
from qrcode.constants import ERROR_CORRECT_M


# Drawing one QR takes ~30-100 ms in pure Python (most of it choosing the mask, ISO/IEC 18004
# 7.8.3); a page and its polled panel redraw the same codes, so each process keeps the recent ones.
@lru_cache(maxsize=512)
def qr_svg(data: str) -> SafeString:
    """``data`` as an SVG QR code: one path of dark runs, a quiet zone of 4 modules.

    The SVG is hidden from screen readers: the element around it carries the translated label.

    Error correction M (15 %) is what wallets scan reliably off a screen; an upper-case BIP21 URI
    fits QR's alphanumeric mode, which is why the unified link is upper-cased before this.
    """
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4)
    code.add_data(data)
    code.make(fit=True)
    matrix = code.get_matrix()
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < size and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h{start - x}z")
    # Markup safe: only numbers we computed go into it, never ``data`` itself.
    return mark_safe(  # noqa: S308
        f'<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" '
        f'shape-rendering="crispEdges" aria-hidden="true" focusable="false">'
        f'<rect width="{size}" height="{size}" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(runs)}"/></svg>'
    )
