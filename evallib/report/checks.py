"""Publish checks for board pages (no code, no row-level data, small counts suppressed, no NHS numbers).

- :func:`find_nhs_numbers` / :func:`check_page`: a page containing anything that
  looks like an NHS number -- 10 digits, optionally written ``3 3 4`` with spaces or
  hyphens, whose modulus-11 check digit is valid -- is refused with a
  :class:`~evallib.exceptions.PublishError`. The error never repeats the number.
- :func:`check_page` also refuses pages that contain code input cells or prompts.
- :func:`suppress_small_counts`: counts below ``suppress_below`` (but above zero)
  are replaced by ``"<N"`` before a table reaches a board page. Zero is not
  disclosive and is shown.

Edge cases: embedded images (``data:`` URIs) are skipped before scanning; digits that
are part of a longer token (a hash, a longer number, a decimal fraction such as
``0.1234567890``) are not NHS numbers. A 10-digit number whose check digit would
be 10 is never a valid NHS number.
"""
from __future__ import annotations

import re

from evallib.exceptions import PublishError

_DATA_URI = re.compile(r"data:[A-Za-z0-9.+/-]+;base64,[A-Za-z0-9+/=\s]+")
_CANDIDATE = re.compile(r"(?<![A-Za-z0-9.,_/])(\d{3})([ -]?)(\d{3})\2(\d{4})(?![A-Za-z0-9_]|[.,]\d)")
_CODE_MARKERS = ("jp-InputArea", "input_area", "jp-InputPrompt", "input_prompt", "class=\"prompt")


def nhs_check_digit_ok(digits: str) -> bool:
    """True when the 10-digit string has a valid NHS modulus-11 check digit.

    Weights 10..2 on the first nine digits; check = 11 - (sum mod 11); 11 -> 0;
    10 -> invalid.
    """
    if len(digits) != 10 or not digits.isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1)))
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10:
        return False
    return check == int(digits[9])


def find_nhs_numbers(text: str) -> list[tuple[int, str]]:
    """(offset, digits) of every NHS-number-like string in ``text`` (data URIs skipped)."""
    text = _DATA_URI.sub(lambda m: " " * len(m.group(0)), text)
    hits = []
    for m in _CANDIDATE.finditer(text):
        digits = m.group(1) + m.group(3) + m.group(4)
        if nhs_check_digit_ok(digits):
            hits.append((m.start(), digits))
    return hits


def check_page(html: str, source: str = "page") -> None:
    """Raise :class:`PublishError` if ``html`` may not go to a board."""
    hits = find_nhs_numbers(html)
    if hits:
        raise PublishError(
            f"{source}: {len(hits)} string(s) that look like an NHS number (10 digits with a valid "
            f"modulus-11 check digit) at character offset(s) {', '.join(str(o) for o, _ in hits[:5])}; "
            f"remove patient identifiers from the notebook outputs")
    for marker in _CODE_MARKERS:
        if marker in html:
            raise PublishError(f"{source}: the page contains code input ({marker!r}); board pages must "
                               f"be rendered with exclude_input")


def suppress_small_counts(frame, columns, suppress_below: int):
    """Copy of ``frame`` with counts ``0 < x < suppress_below`` in ``columns`` shown as ``"<N"``.

    Missing values stay missing; ``suppress_below=0`` disables suppression. The
    columns become object dtype (strings for suppressed cells, numbers otherwise).
    """
    out = frame.copy()
    if suppress_below <= 0:
        return out
    for col in columns:
        s = out[col].astype(object)
        mask = out[col].notna() & (out[col] > 0) & (out[col] < suppress_below)
        s[mask] = f"<{suppress_below}"
        out[col] = s
    return out


__all__ = ["nhs_check_digit_ok", "find_nhs_numbers", "check_page", "suppress_small_counts"]
