"""Code lists (danh mục dùng chung) shipped with the platform: genders, the 54 ethnic groups, nationalities
(ISO 3166-1 alpha-2), and — built from the reference module's communes — the 2025 communes and the legacy units.

Ethnic group codes: Decision 121-TCTK/PPCĐ (02/03/1979) of the General Statistics Office, "Danh mục các dân tộc
Việt Nam", as used by the population census (names in the GSO spelling). Nationalities: the ISO 3166-1 alpha-2 codes
with Vietnamese and English names from the Unicode CLDR (via Babel, Unicode licence).
"""

from __future__ import annotations

import re
from typing import Any

from babel import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.data.models import CodeList
from tinhso.reference.models import Commune

GENDERS = [("M", "Nam", "Male"), ("F", "Nữ", "Female")]

ETHNIC_GROUPS = [
    ("01", "Kinh", "Kinh"), ("02", "Tày", "Tay"), ("03", "Thái", "Thai"), ("04", "Hoa", "Hoa"),
    ("05", "Khơ-me", "Khmer"), ("06", "Mường", "Muong"), ("07", "Nùng", "Nung"), ("08", "Mông", "Hmong"),
    ("09", "Dao", "Dao"), ("10", "Gia-rai", "Jarai"), ("11", "Ngái", "Ngai"), ("12", "Ê-đê", "Ede"),
    ("13", "Ba-na", "Bahnar"), ("14", "Xơ-đăng", "Xo Dang"), ("15", "Sán Chay", "San Chay"), ("16", "Cơ-ho", "Co Ho"),
    ("17", "Chăm", "Cham"), ("18", "Sán Dìu", "San Diu"), ("19", "Hrê", "Hre"), ("20", "Mnông", "Mnong"),
    ("21", "Ra-glai", "Raglai"), ("22", "Xtiêng", "Stieng"), ("23", "Bru-Vân Kiều", "Bru-Van Kieu"),
    ("24", "Thổ", "Tho"), ("25", "Giáy", "Giay"), ("26", "Cơ-tu", "Co Tu"), ("27", "Gié-Triêng", "Gie Trieng"),
    ("28", "Mạ", "Ma"), ("29", "Khơ-mú", "Khmu"), ("30", "Co", "Co"), ("31", "Tà-ôi", "Ta Oi"),
    ("32", "Chơ-ro", "Cho Ro"), ("33", "Kháng", "Khang"), ("34", "Xinh-mun", "Xinh Mun"), ("35", "Hà Nhì", "Ha Nhi"),
    ("36", "Chu-ru", "Chu Ru"), ("37", "Lào", "Lao"), ("38", "La Chí", "La Chi"), ("39", "La Ha", "La Ha"),
    ("40", "Phù Lá", "Phu La"), ("41", "La Hủ", "La Hu"), ("42", "Lự", "Lu"), ("43", "Lô Lô", "Lo Lo"),
    ("44", "Chứt", "Chut"), ("45", "Mảng", "Mang"), ("46", "Pà Thẻn", "Pa Then"), ("47", "Cơ Lao", "Co Lao"),
    ("48", "Cống", "Cong"), ("49", "Bố Y", "Bo Y"), ("50", "Si La", "Si La"), ("51", "Pu Péo", "Pu Peo"),
    ("52", "Brâu", "Brau"), ("53", "Ơ-đu", "O Du"), ("54", "Rơ-măm", "Ro Mam"),
]  # fmt: skip

_NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"}


def nationalities() -> list[dict[str, str]]:
    vi: dict[str, str] = {str(k): str(v) for k, v in Locale("vi").territories.items()}
    en: dict[str, str] = {str(k): str(v) for k, v in Locale("en").territories.items()}
    codes = sorted(c for c in en if re.fullmatch("[A-Z]{2}", c) and c not in _NOT_COUNTRIES)
    return [{"code": c, "label_vi": vi.get(c, en[c]), "label_en": en[c]} for c in codes]


def _items(rows: list[tuple[str, str, str]]) -> list[dict[str, str]]:
    return [{"code": c, "label_vi": vi, "label_en": en} for c, vi, en in rows]


def load_codelists(session: Session) -> int:
    """Insert or replace the shipped code lists; the commune lists come from the reference tables."""
    communes = list(session.scalars(select(Commune).order_by(Commune.code)))
    legacy: list[dict[str, Any]] = []
    for commune in communes:
        for old in commune.merged_from or []:
            legacy.append(
                {
                    "code": old["code"],
                    "label_vi": old["name"],
                    "label_en": old["name"],
                    "new_code": commune.code,
                }
            )
    lists = [
        ("genders", "Giới tính", "Sex", "QĐ 2439/QĐ-TTg data dictionary convention", _items(GENDERS)),
        ("ethnic_groups", "Dân tộc", "Ethnic groups", "QĐ 121-TCTK/PPCĐ (1979)", _items(ETHNIC_GROUPS)),
        (
            "nationalities",
            "Quốc tịch",
            "Nationalities",
            "ISO 3166-1 alpha-2 (names: Unicode CLDR)",
            nationalities(),
        ),
        (
            "communes_2025",
            "Đơn vị hành chính cấp xã (2025)",
            "Communes (2025)",
            "GSO letter 1027/CTK-CSCL; NQ 1678/NQ-UBTVQH15 (dvhcvn/20250701, MIT)",
            [{"code": c.code, "label_vi": c.name, "label_en": c.name} for c in communes],
        ),
        (
            "legacy_units",
            "Đơn vị hành chính cấp xã trước 01/07/2025",
            "Communes before 1 July 2025",
            "dvhcvn/20250701 mapping/merges.json (MIT)",
            legacy,
        ),
    ]
    for code, name_vi, name_en, source, items in lists:
        row = session.get(CodeList, code) or CodeList(code=code)
        row.name_vi, row.name_en, row.source, row.items = name_vi, name_en, source, items
        session.add(row)
    session.flush()
    return len(lists)


def codes_of(session: Session, code: str) -> set[str]:
    row = session.get(CodeList, code)
    return {i["code"] for i in row.items} if row else set()
