"""The one masking rule for text a person typed: used where it is typed (the feedback terminal's
comment), where it arrives (the central ingest) and where a command carries it (the hub).

Control characters, surrogates and bidirectional overrides are removed (stored text must show
what was typed, and a lone surrogate cannot be encoded), line breaks become spaces, and Finnish
personal identity codes and phone numbers are masked (DESIGN.md: Privacy). Nothing else is
changed: no case folding, no normalisation. Pure.
"""
from __future__ import annotations

import re
import unicodedata

#: What replaces a masked identity code or phone number.
MASK = "[…]"
COMMENT_MAX_DEFAULT = 500
#: The longest comment a feedback terminal may be configured to take ([feedback] comment_max).
COMMENT_MAX_LIMIT = 2000

# Finnish personal identity code: DDMMYY, century sign (+ - A B C D E F X Y W V U), 3 digits,
# check character. Matched loosely (with or without the sign) so that a typo still hides it.
_HETU_RE = re.compile(r"\b\d{6}\s?[-+A-FU-Y]?\s?\d{3}[0-9A-Y]\b", re.IGNORECASE)
# A phone number: 7 or more digits, allowing spaces, dashes and a leading +.
_PHONE_RE = re.compile(r"(?<![\w])\+?\d(?:[\s-]?\d){6,}(?![\w])")
# Bidirectional overrides and isolates can make stored text display differently from what
# was typed; with the C0/C1 controls they are removed.
_BIDI = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def strip_controls(text: str) -> str:
    """Line breaks and tabs as spaces; other controls (Cc), surrogates (Cs) and bidi overrides gone."""
    out = []
    for ch in text:
        if ch in "\n\r\t\v\f":
            out.append(" ")
            continue
        if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
            continue
        out.append(ch)
    return "".join(out)


def has_controls(text: str) -> bool:
    """True if `strip_controls` would change anything (a control, surrogate or bidi override)."""
    return any(ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs") for ch in text)


def mask_personal(text: str) -> str:
    """Identity codes and phone numbers replaced by MASK."""
    return _PHONE_RE.sub(MASK, _HETU_RE.sub(MASK, text))


def clean_comment(text: str | None, max_len: int = COMMENT_MAX_DEFAULT) -> str | None:
    """Typed free text as it may be stored: controls removed, identity codes and phone numbers
    masked, length capped. Empty (or only spaces) gives None."""
    if text is None:
        return None
    s = mask_personal(strip_controls(text))[:max_len]
    return s if s.strip() else None
