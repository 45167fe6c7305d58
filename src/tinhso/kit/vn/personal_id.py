"""Personal identification number (số định danh cá nhân, printed on the CCCD / thẻ căn cước): 12 digits.

Structure (Decree 137/2015/NĐ-CP Art. 13; Circular 07/2016/TT-BCA Art. 7): PPP G YY RRRRRR — the province (or
country) of birth registration, a century-and-sex digit (even male, odd female; 0/1 for 1900-1999, 2/3 for
2000-2099, ...), the last two digits of the birth year, six random digits. There is no check digit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from tinhso.kit.vn.result import Check

# 3-digit codes of the 63 pre-2025 provinces ("0" + GSO code); Nghệ An is 040.
PROVINCE_CODES = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang",
    "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định", "037": "Ninh Bình",
    "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình", "045": "Quảng Trị",
    "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định",
    "054": "Phú Yên", "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước",
    "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu", "079": "TP Hồ Chí Minh",
    "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long",
    "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}  # fmt: skip

_SPACES = re.compile(r"[\s.\-]")


def century_sex_digit(birth_year: int, sex: str) -> int:
    """The G digit for a birth year (1900-2399) and sex ("M"/"F")."""
    century = (birth_year - 1900) // 100
    return century * 2 + (1 if sex == "F" else 0)


def make_personal_id(province: str, birth_year: int, sex: str, serial: int) -> str:
    """Compose a well-formed number (used by the synthetic population)."""
    return f"{province}{century_sex_digit(birth_year, sex)}{birth_year % 100:02d}{serial % 1_000_000:06d}"


@dataclass
class PersonalIdResult(Check):
    birth_year: int | None = None
    sex: str | None = None
    province: str | None = None


def validate_personal_id(
    value: object, birth_date: date | None = None, sex: str | None = None, today: date | None = None
) -> PersonalIdResult:
    """Check format and agreement with the birth date and sex; returns the 12-digit string."""
    raw = "" if value is None else str(value).strip()
    digits = _SPACES.sub("", raw)
    if len(digits) == 11 and digits.isdigit() and not raw.startswith("0"):
        # Spreadsheets drop the leading zero of numbers stored as numbers.
        digits = "0" + digits
    if len(digits) == 9 and digits.isdigit():
        return _fail(
            "personal_id_legacy_cmnd", "A 9-digit CMND number is not a personal identification number"
        )
    if len(digits) != 12 or not digits.isdigit() or not digits.isascii():
        return _fail("personal_id_format", "The personal identification number must have 12 digits")
    g = int(digits[3])
    year = 1900 + 100 * (g // 2) + int(digits[4:6])
    id_sex = "F" if g % 2 else "M"
    today = today or date.today()
    if year > today.year:
        return _fail(
            "personal_id_future_year",
            "The birth year encoded in the number ({year}) is in the future",
            year=year,
        )
    if birth_date is not None and birth_date.year != year:
        return _fail(
            "personal_id_birth_year",
            "The number encodes birth year {year} but the birth date is in {actual}",
            year=year,
            actual=birth_date.year,
        )
    if sex in ("M", "F") and sex != id_sex:
        return _fail("personal_id_sex", "The number's sex digit does not match the recorded sex")
    result = PersonalIdResult(True, digits, digits != raw, birth_year=year, sex=id_sex, province=digits[:3])
    if digits[:3] not in PROVINCE_CODES:
        result.rule, result.warning = "personal_id_province_unknown", True
        result.message = "Unknown province-of-birth code {code}"
        result.params = {"code": digits[:3]}
    return result


def _fail(rule: str, message: str, **params: object) -> PersonalIdResult:
    return PersonalIdResult(False, None, False, rule, message, dict(params))
