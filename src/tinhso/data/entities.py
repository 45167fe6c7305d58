"""The seed entities of the shared data dictionary (modelled on the national one, QĐ 2439/QĐ-TTg).

A field: name, type (string, code, date, integer, number, boolean), Vietnamese and English labels, classification
(public, internal, personal, sensitive), required, and optionally `rule` (a kit.vn normaliser: personal_id,
tax_code, phone, name, date, commune) and `codelist`.
"""

from __future__ import annotations

from typing import Any

CONGAN, TAICHINH, NNMT, GDDT, YTE, THONGKE = (
    "000.00.15.H41",
    "000.00.03.H41",
    "000.00.06.H41",
    "000.00.09.H41",
    "000.00.10.H41",
    "000.00.16.H41",
)


def f(
    name: str,
    type_: str,
    vi: str,
    en: str,
    cls: str = "internal",
    required: bool = False,
    rule: str | None = None,
    codelist: str | None = None,
) -> dict[str, Any]:
    field: dict[str, Any] = {
        "name": name, "type": type_, "label_vi": vi, "label_en": en, "classification": cls, "required": required,
    }  # fmt: skip
    if rule:
        field["rule"] = rule
    if codelist:
        field["codelist"] = codelist
    return field


COMMUNE = f(
    "commune_code", "code", "Xã, phường (2025)", "Commune (2025)", "public", True, "commune", "communes_2025"
)

SEED_ENTITIES: list[dict[str, Any]] = [
    {
        "code": "citizen", "name_vi": "Công dân", "name_en": "Citizen", "owner_agency": CONGAN,
        "key_field": "personal_id", "refresh_days": 30,
        "description": "Thông tin cơ bản về công dân (theo CSDL quốc gia về dân cư)",
        "fields": [
            f("personal_id", "string", "Số định danh cá nhân", "Personal identification number", "personal", True, "personal_id"),
            f("full_name", "string", "Họ, chữ đệm và tên", "Full name", "personal", True, "name"),
            f("birth_date", "date", "Ngày, tháng, năm sinh", "Date of birth", "personal", True, "date"),
            f("sex", "code", "Giới tính", "Sex", "internal", True, None, "genders"),
            f("ethnicity", "code", "Dân tộc", "Ethnic group", "sensitive", False, None, "ethnic_groups"),
            f("nationality", "code", "Quốc tịch", "Nationality", "internal", False, None, "nationalities"),
            f("phone", "string", "Số điện thoại", "Phone number", "personal", False, "phone"),
            COMMUNE,
            f("address", "string", "Nơi thường trú", "Permanent address", "personal", False),
        ],
    },
    {
        "code": "household", "name_vi": "Hộ gia đình", "name_en": "Household", "owner_agency": CONGAN,
        "key_field": "household_id", "refresh_days": 30, "description": "Hộ gia đình và chủ hộ",
        "fields": [
            f("household_id", "string", "Mã hộ", "Household code", "internal", True),
            f("head_personal_id", "string", "Số định danh chủ hộ", "Head's personal id", "personal", True, "personal_id"),
            f("head_name", "string", "Họ tên chủ hộ", "Head of household", "personal", True, "name"),
            f("members", "integer", "Số thành viên", "Members", "internal", True),
            COMMUNE,
            f("address", "string", "Địa chỉ", "Address", "personal", False),
        ],
    },
    {
        "code": "enterprise", "name_vi": "Doanh nghiệp", "name_en": "Enterprise", "owner_agency": TAICHINH,
        "key_field": "tax_code", "refresh_days": 30, "description": "Doanh nghiệp đăng ký trên địa bàn tỉnh",
        "fields": [
            f("tax_code", "string", "Mã số doanh nghiệp", "Enterprise code", "public", True, "tax_code"),
            f("name", "string", "Tên doanh nghiệp", "Name", "public", True),
            f("legal_form", "string", "Loại hình", "Legal form", "public", False),
            f("registration_date", "date", "Ngày đăng ký", "Registration date", "public", False, "date"),
            f("representative", "string", "Người đại diện theo pháp luật", "Legal representative", "public", False, "name"),
            COMMUNE,
            f("address", "string", "Địa chỉ trụ sở", "Head office address", "public", False),
            f("status", "string", "Tình trạng", "Status", "public", False),
        ],
    },
    {
        "code": "household_business", "name_vi": "Hộ kinh doanh", "name_en": "Household business",
        "owner_agency": TAICHINH, "key_field": "business_code", "refresh_days": 30,
        "description": "Hộ kinh doanh đăng ký tại UBND cấp xã",
        "fields": [
            f("business_code", "string", "Mã số hộ kinh doanh", "Business code", "public", True),
            f("name", "string", "Tên hộ kinh doanh", "Business name", "public", True),
            f("owner_personal_id", "string", "Số định danh chủ hộ", "Owner's personal id", "personal", True, "personal_id"),
            f("owner_name", "string", "Chủ hộ kinh doanh", "Owner", "personal", True, "name"),
            f("sector", "string", "Ngành nghề", "Sector", "public", False),
            f("employees", "integer", "Số lao động", "Employees", "public", False),
            COMMUNE,
            f("registration_date", "date", "Ngày đăng ký", "Registration date", "public", False, "date"),
        ],
    },
    {
        "code": "land_parcel", "name_vi": "Thửa đất", "name_en": "Land parcel", "owner_agency": NNMT,
        "key_field": "parcel_id", "refresh_days": 90, "description": "Thửa đất (CSDL đất đai)",
        "fields": [
            f("parcel_id", "string", "Mã thửa", "Parcel id", "public", True),
            f("map_sheet", "integer", "Số tờ bản đồ", "Map sheet", "public", True),
            f("parcel_no", "integer", "Số thửa", "Parcel number", "public", True),
            COMMUNE,
            f("area_m2", "number", "Diện tích (m²)", "Area (m²)", "public", True),
            f("land_use", "string", "Mục đích sử dụng", "Land use", "public", False),
            f("holder_personal_id", "string", "Số định danh người sử dụng", "Holder's personal id", "personal", False, "personal_id"),
        ],
    },
    {
        "code": "school", "name_vi": "Cơ sở giáo dục", "name_en": "Educational institution", "owner_agency": GDDT,
        "key_field": "school_code", "refresh_days": 365, "description": "Trường học, cơ sở giáo dục",
        "fields": [
            f("school_code", "string", "Mã trường", "School code", "public", True),
            f("name", "string", "Tên trường", "Name", "public", True),
            f("level", "string", "Cấp học", "Level", "public", True),
            f("ownership", "string", "Loại hình (công lập/tư thục)", "Ownership", "public", False),
            COMMUNE,
            f("students", "integer", "Số học sinh", "Students", "public", False),
        ],
    },
    {
        "code": "health_facility", "name_vi": "Cơ sở y tế", "name_en": "Health facility", "owner_agency": YTE,
        "key_field": "facility_code", "refresh_days": 365, "description": "Bệnh viện, trạm y tế, phòng khám",
        "fields": [
            f("facility_code", "string", "Mã cơ sở", "Facility code", "public", True),
            f("name", "string", "Tên cơ sở", "Name", "public", True),
            f("kind", "string", "Loại hình", "Kind", "public", True),
            COMMUNE,
            f("beds", "integer", "Số giường bệnh", "Beds", "public", False),
        ],
    },
    {
        "code": "population_stat", "name_vi": "Dân số theo xã và giới tính", "name_en": "Population by commune and sex",
        "owner_agency": THONGKE, "key_field": "commune_code", "refresh_days": 365,
        "description": "Số liệu tổng hợp từ kho dữ liệu dân cư",
        "fields": [
            COMMUNE,
            f("commune_name", "string", "Tên xã, phường", "Commune name", "public", True),
            f("sex", "code", "Giới tính", "Sex", "public", True, None, "genders"),
            f("population", "integer", "Số người", "Population", "public", True),
        ],
    },
]  # fmt: skip
