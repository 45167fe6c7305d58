"""Phone numbers to E.164 (+84…): current 10-digit mobile numbers, landlines with 3-digit area codes (02x), and
the 11-digit mobile numbers renumbered in 2018 (converted to their new prefix and marked as fixed)."""

from __future__ import annotations

import re

from tinhso.kit.vn.result import Check

# Mobile prefixes in use (after the 2018 renumbering), without the leading 0.
MOBILE_PREFIXES = frozenset(
    ["32", "33", "34", "35", "36", "37", "38", "39"]  # Viettel
    + ["52", "55", "56", "58", "59"]  # Vietnamobile, Reddi, Gmobile
    + ["70", "76", "77", "78", "79"]  # MobiFone
    + ["81", "82", "83", "84", "85", "86", "87", "88", "89"]
    + ["90", "91", "92", "93", "94", "96", "97", "98", "99"]
)
# 11-digit prefixes renumbered on 15/09/2018 -> new prefix.
RENUMBERED = {
    "162": "32", "163": "33", "164": "34", "165": "35", "166": "36", "167": "37", "168": "38", "169": "39",
    "120": "70", "121": "79", "122": "77", "126": "76", "128": "78",
    "123": "83", "124": "84", "125": "85", "127": "81", "129": "82",
    "186": "56", "188": "58", "199": "59",
}  # fmt: skip
_JUNK = re.compile(r"[\s().\-/]")


def normalize_phone(value: object) -> Check:
    """'0912 345 678', '+84 912345678', '84912345678', '0238.3844 xxx' -> '+84912345678'."""
    raw = "" if value is None else str(value).strip()
    digits = _JUNK.sub("", raw)
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("0084"):
        national = digits[4:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    elif len(digits) == 9 and digits[:2] in MOBILE_PREFIXES:
        national = digits  # leading zero lost in a spreadsheet
    else:
        return Check.fail("phone_format", "Not a Vietnamese phone number")
    if not national.isdigit() or not national.isascii():
        return Check.fail("phone_format", "Not a Vietnamese phone number")
    if len(national) == 10 and national[:3] in RENUMBERED:
        national = RENUMBERED[national[:3]] + national[3:]
    if len(national) == 9 and national[:2] in MOBILE_PREFIXES:
        e164 = "+84" + national
    elif len(national) == 10 and national.startswith("2"):
        e164 = "+84" + national  # landline: 2xx area code + 7 digits
    else:
        return Check.fail("phone_prefix", "Unknown mobile prefix or wrong number of digits")
    return Check(True, e164, e164 != raw)
