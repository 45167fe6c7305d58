"""Tax code (mã số thuế): 10 digits with a check digit, 13 digits for a branch, or (since 01/07/2025, Circular
86/2024/TT-BTC) a 12-digit personal identification number used as an individual's tax code."""

from __future__ import annotations

from stdnum.exceptions import ValidationError
from stdnum.vn import mst

from tinhso.kit.vn.personal_id import validate_personal_id
from tinhso.kit.vn.result import Check


def validate_tax_code(value: object) -> Check:
    """Returns the compact form (10 or 13 digits, or the 12-digit personal id)."""
    raw = "" if value is None else str(value).strip()
    compact = mst.compact(raw) if raw else ""
    if len(compact) == 12 and compact.isdigit():
        pid = validate_personal_id(compact)
        if not pid.ok:
            return Check.fail(pid.rule or "tax_code_format", pid.message or "", **pid.params)
        return Check(True, compact, compact != raw)
    try:
        valid = mst.validate(raw)
    except ValidationError:
        return Check.fail("tax_code_invalid", "The tax code is not valid (format or check digit)")
    return Check(True, valid, valid != raw)
