"""Addresses to the 2025 commune code (mã ĐVHC cấp xã sau 01/07/2025).

Parsing uses the `vietnamadminunits` package (its 2025 parser, and its legacy parser for pre-2025 addresses with
a district). Converting a legacy commune to its 2025 commune uses the old→new mapping of dvhcvn/20250701 shipped
in `data/splits_2025.json` (MIT): when an old commune was split across several new communes the result is
*ambiguous* with the candidates listed; the normaliser never picks one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from tinhso.kit.text import fold
from tinhso.kit.vn.result import Check

_LEGACY_MARKERS = ("huyen ", "thi xa ", "quan ", "thi tran ", "tp vinh", "thanh pho vinh", "tx ")


@dataclass
class AddressResult(Check):
    status: str = "not_found"  # current, converted, ambiguous, not_found
    commune_name: str | None = None
    province_code: str | None = None
    legacy_code: str | None = None
    legacy_name: str | None = None
    candidates: list[dict[str, str]] = field(default_factory=list)


@lru_cache(maxsize=1)
def splits() -> dict[str, Any]:
    text = resources.files("tinhso.kit.vn").joinpath("data", "splits_2025.json").read_text(encoding="utf-8")
    return json.loads(text)["units"]


def _parse(address: str, mode: str) -> Any:
    from vietnamadminunits import parse_address

    try:
        return parse_address(address, mode=mode)
    except Exception:  # noqa: BLE001 - the parser raises bare exceptions for unknown places
        return None


@lru_cache(maxsize=100_000)
def to_commune_2025(address: str | None) -> AddressResult:
    """'Xóm 3, Xã Diễn Kỷ, Huyện Diễn Châu, Nghệ An' -> converted to 17416 (Xã Đức Châu)."""
    raw = (address or "").strip()
    if not raw:
        return AddressResult(False, None, False, "address_empty", "The address is empty")
    folded = " " + fold(raw).replace(",", " ").replace(".", " ") + " "
    legacy_first = any(f" {m}" in folded for m in _LEGACY_MARKERS)
    if not legacy_first:
        unit = _parse(raw, "FROM_2025")
        if unit is not None and unit.ward_code:
            return AddressResult(
                True,
                unit.ward_code,
                False,
                status="current",
                commune_name=unit.ward,
                province_code=unit.province_code,
            )
    old = _parse(raw, "LEGACY")
    if old is None or not old.ward_code:
        if legacy_first:
            unit = _parse(raw, "FROM_2025")
            if unit is not None and unit.ward_code:
                return AddressResult(
                    True,
                    unit.ward_code,
                    True,
                    status="current",
                    commune_name=unit.ward,
                    province_code=unit.province_code,
                )
        return AddressResult(False, None, False, "address_not_found", "No commune found in the address")
    mapping = splits().get(old.ward_code)
    if mapping is None:
        return AddressResult(False, None, False, "address_not_found", "No commune found in the address")
    new = mapping["new"]
    names = mapping.get("new_names", [])
    common = dict(province_code=old.province_code, legacy_code=old.ward_code, legacy_name=old.ward)
    if len(new) > 1:
        candidates = [{"code": c, "name": n} for c, n in zip(new, names, strict=False)]
        result = AddressResult(
            False,
            None,
            False,
            "address_ambiguous",
            "The former commune {name} was split across several 2025 communes: {candidates}",
            {"name": old.ward, "candidates": ", ".join(f"{c['name']} ({c['code']})" for c in candidates)},
            status="ambiguous",
            candidates=candidates,
            **common,
        )
        return result
    return AddressResult(
        True, new[0], True, status="converted", commune_name=names[0] if names else None, **common
    )
