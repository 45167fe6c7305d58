"""Vietnamese validators and normalisers: examples from the standards and properties checked with hypothesis."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.vn import mst

from tinhso.kit.text import fold
from tinhso.kit.vn import (
    normalize_name,
    normalize_phone,
    parse_date,
    to_commune_2025,
    validate_personal_id,
    validate_tax_code,
)
from tinhso.kit.vn.names import place_tone
from tinhso.kit.vn.personal_id import PROVINCE_CODES, make_personal_id
from tinhso.kit.vn.phone import MOBILE_PREFIXES, RENUMBERED

birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2025, 12, 31))
sexes = st.sampled_from(["M", "F"])
provinces = st.sampled_from(sorted(PROVINCE_CODES))


# --- personal identification number -------------------------------------------------------------------------
def test_personal_id_examples() -> None:
    hoa = validate_personal_id("040190001234", date(1990, 5, 1), "F")
    assert hoa.ok and hoa.birth_year == 1990 and hoa.sex == "F" and hoa.province == "040"
    assert validate_personal_id("040085004321", date(1985, 1, 1), "M").ok
    assert validate_personal_id("040190001234", date(1990, 5, 1), "M").rule == "personal_id_sex"
    assert validate_personal_id("040190001234", date(1991, 5, 1), "F").rule == "personal_id_birth_year"
    assert validate_personal_id("12345678").rule == "personal_id_format"
    assert validate_personal_id("187654321").rule == "personal_id_legacy_cmnd"
    assert validate_personal_id("04019000123a").rule == "personal_id_format"
    assert validate_personal_id("040399001234", today=date(2026, 1, 1)).rule == "personal_id_future_year"
    unknown = validate_personal_id("099190001234")
    assert unknown.ok and unknown.warning and unknown.rule == "personal_id_province_unknown"
    # A spreadsheet that stored the number as a number lost the leading zero: restored, and marked fixed.
    fixed = validate_personal_id("40190001234")
    assert fixed.ok and fixed.fixed and fixed.value == "040190001234"


@settings(deadline=None)
@given(provinces, birth_dates, sexes, st.integers(0, 999_999))
def test_personal_id_agrees_with_its_own_birth_year_and_sex(province, born, sex, serial) -> None:  # noqa: ANN001
    number = make_personal_id(province, born.year, sex, serial)
    result = validate_personal_id(number, born, sex, today=date(2026, 1, 1))
    assert result.ok and result.value == number and not result.fixed
    assert result.birth_year == born.year and result.sex == sex
    other = "F" if sex == "M" else "M"
    assert validate_personal_id(number, born, other).rule == "personal_id_sex"
    other_year = date(born.year + 1 if born.year < 2025 else born.year - 1, 6, 1)
    assert validate_personal_id(number, other_year, sex).rule == "personal_id_birth_year"
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    assert validate_personal_id(spaced, born, sex).value == number


@settings(deadline=None)
@given(st.text(max_size=14).filter(lambda s: not (len(s.strip()) == 12 and s.strip().isdigit())))
def test_personal_id_never_accepts_a_non_12_digit_string(text) -> None:  # noqa: ANN001
    result = validate_personal_id(text)
    if result.ok:
        assert len(result.value) == 12 and result.value.isdigit()


# --- tax code ---------------------------------------------------------------------------------------------------
def test_tax_code_examples() -> None:
    assert validate_tax_code("0100233488").value == "0100233488"
    branch = validate_tax_code("0314409058-002")
    assert branch.ok and branch.value == "0314409058002" and branch.fixed
    assert validate_tax_code("0100233480").rule == "tax_code_invalid"
    assert validate_tax_code("040190001234").ok  # personal id used as tax code (Circular 86/2024/TT-BTC)
    assert not validate_tax_code("040990001234").ok  # encodes a future birth year


@settings(deadline=None)
@given(st.integers(0, 99), st.integers(1, 9_999_999))
def test_tax_code_check_digit(province, seq) -> None:  # noqa: ANN001
    body = f"{province:02d}{seq:07d}"
    check = mst.calc_check_digit(body) if hasattr(mst, "calc_check_digit") else None
    weights = (31, 29, 23, 19, 17, 13, 7, 5, 3)
    remainder = sum(w * int(d) for w, d in zip(weights, body, strict=True)) % 11
    if remainder == 0:
        return  # such numbers are never issued
    digit = str((10 - remainder) % 10)
    assert check is None or check == digit
    assert validate_tax_code(body + digit).ok
    wrong = str((int(digit) + 1) % 10)
    assert not validate_tax_code(body + wrong).ok


# --- phone numbers -----------------------------------------------------------------------------------------------
def test_phone_examples() -> None:
    assert normalize_phone("0912 345 678").value == "+84912345678"
    assert normalize_phone("+84 (91) 234-5678").value == "+84912345678"
    assert normalize_phone("84912345678").value == "+84912345678"
    assert normalize_phone("01681234567").value == "+84381234567"  # renumbered 2018
    assert normalize_phone("0238 3844 555").value == "+842383844555"  # Nghệ An landline
    assert normalize_phone("0951234567").rule == "phone_prefix"  # 095 is no longer in use
    assert normalize_phone("hello").rule == "phone_format"
    assert normalize_phone("+84912345678").fixed is False


@settings(deadline=None)
@given(
    st.sampled_from(sorted(MOBILE_PREFIXES)),
    st.integers(0, 9_999_999),
    st.sampled_from(["0", "+84", "84", "0084"]),
)
def test_phone_to_e164_is_stable(prefix, rest, lead) -> None:  # noqa: ANN001
    national = f"{prefix}{rest:07d}"
    result = normalize_phone(f"{lead}{national}")
    assert result.ok and result.value == "+84" + national
    assert normalize_phone(result.value).value == result.value and not normalize_phone(result.value).fixed


@settings(deadline=None)
@given(st.sampled_from(sorted(RENUMBERED)), st.integers(0, 9_999_999))
def test_renumbered_prefixes_map_to_current_ones(old, rest) -> None:  # noqa: ANN001
    result = normalize_phone(f"0{old}{rest:07d}")
    assert result.ok and result.fixed and result.value[3:5] in MOBILE_PREFIXES


# --- names -----------------------------------------------------------------------------------------------------
def test_name_examples() -> None:
    assert normalize_name("  nguyễn   thị HOÀ ").value == "Nguyễn Thị Hòa"
    assert normalize_name("hồ văn bình").value == "Hồ Văn Bình"
    assert normalize_name("lê THUỶ tiên").value == "Lê Thủy Tiên"
    assert normalize_name("Lê Thủy Tiên", style="new").value == "Lê Thuỷ Tiên"
    assert normalize_name("quý").value == "Quý" and normalize_name("giữa").value == "Giữa"
    assert normalize_name("nguyễn hoàng").value == "Nguyễn Hoàng"  # closed syllable: mark on the last vowel
    assert normalize_name("khuyến").value == "Khuyến" and normalize_name("người").value == "Người"
    assert normalize_name("lò văn h'mông").value == "Lò Văn H'Mông"
    assert normalize_name("Nguyễn Văn 3").rule == "name_characters"
    assert normalize_name("   ").rule == "name_empty"
    assert normalize_name("Nguyễn Thị Hoa").fixed is False


SYLLABLES = ["hòa", "hoà", "thủy", "thuỷ", "khỏe", "khoẻ", "nguyễn", "hoàng", "quý", "giữa", "trường", "người",
             "khuyến", "việt", "thị", "văn", "hương", "ngoài", "tuấn", "dũng", "đức", "h'mông", "mường", "khơ"]  # fmt: skip


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(SYLLABLES), min_size=1, max_size=5),
    st.sampled_from([" ", "  ", "\t"]),
    st.booleans(),
)
def test_name_normalisation_properties(words, sep, upper) -> None:  # noqa: ANN001
    text = sep.join(w.upper() if upper else w for w in words)
    result = normalize_name(text)
    assert result.ok
    # idempotent, keeps the letters (only case, spacing and tone position change), one space between syllables
    assert normalize_name(result.value).value == result.value
    assert fold(result.value) == " ".join(fold(w) for w in words)
    assert all(part[0].isupper() for part in result.value.split(" "))
    # both spellings of a syllable give the same normalised form
    assert place_tone("hoà") == place_tone("hòa") == "hòa"


# --- dates -----------------------------------------------------------------------------------------------------
def test_date_examples() -> None:
    assert parse_date("05/03/1990").value == date(1990, 3, 5)
    assert parse_date("5-3-1990").value == date(1990, 3, 5)
    assert parse_date("1990-03-05").value == date(1990, 3, 5)
    assert parse_date(32937).value == date(1990, 3, 5)  # Excel serial
    assert parse_date("32937").value == date(1990, 3, 5)
    partial = parse_date("00/00/1990")
    assert partial.ok and partial.partial and partial.precision == "year" and partial.warning
    assert parse_date("03/1990").precision == "month"
    assert parse_date("31/02/2000").rule == "date_invalid"
    assert parse_date("next tuesday").rule == "date_format"
    assert parse_date("01/01/1700").rule == "date_too_old"
    assert parse_date("01/01/2030", max_date=date(2026, 1, 1)).rule == "date_in_future"


@settings(deadline=None)
@given(st.dates(min_value=date(1900, 3, 1), max_value=date(2100, 12, 31)))
def test_every_written_form_gives_the_same_date(day) -> None:  # noqa: ANN001
    serial = (day - date(1899, 12, 30)).days
    for form in (day.strftime("%d/%m/%Y"), day.isoformat(), f"{day.day}.{day.month}.{day.year}", serial):
        result = parse_date(form)
        assert result.ok and result.value == day and not result.partial


# --- addresses -------------------------------------------------------------------------------------------------
def test_addresses_to_2025_communes() -> None:
    current = to_commune_2025("Xóm 3, Xã Diễn Châu, Tỉnh Nghệ An")
    assert current.ok and current.value == "17464" and current.status == "current"
    assert to_commune_2025("phuong vinh hung, nghe an").value == "17920"  # accents optional
    legacy = to_commune_2025("Xóm 3, Xã Diễn Kỷ, Huyện Diễn Châu, Tỉnh Nghệ An")
    assert (
        legacy.ok
        and legacy.status == "converted"
        and legacy.value == "17416"
        and legacy.legacy_code == "17434"
    )
    vinh = to_commune_2025("Số 5 Lê Lợi, Phường Hưng Bình, Thành phố Vinh, Nghệ An")
    assert vinh.value == "16681" and vinh.commune_name == "Phường Thành Vinh"
    # Xã Hòa Sơn (Đô Lương) was split between two new communes: reported, not guessed.
    split = to_commune_2025("Xã Hòa Sơn, Huyện Đô Lương, Tỉnh Nghệ An")
    assert not split.ok and split.status == "ambiguous" and split.rule == "address_ambiguous"
    assert {c["code"] for c in split.candidates} == {"17357", "17677"}
    assert to_commune_2025("không có địa chỉ").rule == "address_not_found"
    assert to_commune_2025("").rule == "address_empty"
