"""Licences a publisher can choose: the province's open-data terms and the common international ones.

`id` is what CKAN clients send as `license_id`; `spdx` and `url` feed DCAT's dct:license. CKAN's legacy ids
(`cc-by`, `cc-zero`, `odc-by`) are accepted as aliases.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class License:
    id: str
    title: str
    title_en: str
    url: str
    spdx: str | None
    open: bool
    attribution: bool


LICENSES: tuple[License, ...] = (
    License(
        "nghean-odl-1.0",
        "Điều khoản dữ liệu mở tỉnh Nghệ An 1.0 (ghi nguồn)",
        "Nghệ An Open Data Terms 1.0 (attribution)",
        "/opendata/licenses#nghean-odl-1.0",
        None,
        True,
        True,
    ),
    License(
        "nghean-odl-free",
        "Dữ liệu mở tỉnh Nghệ An — sử dụng tự do, không yêu cầu ghi nguồn",
        "Nghệ An Open Data — free use, no attribution required",
        "/opendata/licenses#nghean-odl-free",
        None,
        True,
        False,
    ),
    License(
        "CC-BY-4.0",
        "Creative Commons Ghi công 4.0",
        "Creative Commons Attribution 4.0",
        "https://creativecommons.org/licenses/by/4.0/",
        "CC-BY-4.0",
        True,
        True,
    ),
    License(
        "CC0-1.0",
        "Creative Commons CC0 1.0 (phạm vi công cộng)",
        "Creative Commons CC0 1.0 (public domain dedication)",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        "CC0-1.0",
        True,
        False,
    ),
    License(
        "ODC-BY-1.0",
        "Giấy phép Ghi công Open Data Commons 1.0",
        "Open Data Commons Attribution License 1.0",
        "https://opendatacommons.org/licenses/by/1-0/",
        "ODC-By-1.0",
        True,
        True,
    ),
)

ALIASES = {"cc-by": "CC-BY-4.0", "cc-zero": "CC0-1.0", "odc-by": "ODC-BY-1.0", "cc0": "CC0-1.0"}
_BY_ID = {lic.id: lic for lic in LICENSES}


def resolve(license_id: str | None) -> License | None:
    """The licence for an id or CKAN alias; None when unknown or empty."""
    if not license_id:
        return None
    return _BY_ID.get(ALIASES.get(license_id, license_id))
