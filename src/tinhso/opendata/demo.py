"""Reference data (topics, publishers) and the demo catalogue: Nghệ An reference data published through the
publishing service, and synthetic aggregate series, clearly marked as illustrative, for the other themes."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity.principal import Principal
from tinhso.kit.context import principal_var
from tinhso.opendata import datastore, publishing, service
from tinhso.opendata.models import Dataset, Group
from tinhso.opendata.schemas import DatasetIn, ResourceIn
from tinhso.reference.models import Commune

# name, title (vi), title (en), EU data theme
GROUPS = [
    ("dan-cu", "Dân cư", "Population", "SOCI"),
    ("hanh-chinh", "Hành chính, địa giới", "Administration and boundaries", "GOVE"),
    ("moi-truong", "Tài nguyên và môi trường", "Environment", "ENVI"),
    ("y-te", "Y tế", "Health", "HEAL"),
    ("giao-duc", "Giáo dục", "Education", "EDUC"),
    ("kinh-te", "Kinh tế, doanh nghiệp", "Economy and business", "ECON"),
    ("nong-nghiep", "Nông nghiệp", "Agriculture", "AGRI"),
    ("giao-thong", "Giao thông, an toàn", "Transport and safety", "TRAN"),
    ("van-hoa-du-lich", "Văn hoá, du lịch", "Culture and tourism", "EDUC"),
    ("chuyen-doi-so", "Chuyển đổi số", "Digital transformation", "TECH"),
    ("tai-chinh", "Tài chính, ngân sách", "Public finance", "ECON"),
]

NOI_VU, SKHCN, THONG_KE, PVHCC = "000.00.04.H41", "000.00.02.H41", "000.00.16.H41", "000.00.19.H41"
NNMT, GDDT, YTE, TAICHINH, CONGTHUONG = (
    "000.00.06.H41",
    "000.00.09.H41",
    "000.00.10.H41",
    "000.00.03.H41",
    "000.00.07.H41",
)
VHTTDL, XAYDUNG, CONGAN, BHXH, THUE = (
    "000.00.11.H41",
    "000.00.08.H41",
    "000.00.15.H41",
    "000.00.20.H41",
    "000.00.17.H41",
)
SYNTHETIC_NOTE = (
    "\n\nDữ liệu tổng hợp minh hoạ, sinh tự động cho bản trình diễn — không phải số liệu chính thức. "
    "(Synthetic illustrative data for the demo, not official statistics.)"
)
DEMO_ACTOR = Principal(
    kind="system",
    id="opendata-demo",
    name="Dữ liệu trình diễn",
    agency_code=SKHCN,
    roles=frozenset({"platform_admin"}),
)


def seed_reference(session: Session) -> None:
    for name, title, title_en, theme in GROUPS:
        group = session.scalar(select(Group).where(Group.name == name)) or Group(name=name)
        group.title, group.title_en, group.eu_theme = title, title_en, theme
        session.add(group)
    session.flush()
    service.ensure_organizations(session)


def _meta(
    name: str,
    title: str,
    title_en: str,
    owner: str,
    groups: list[str],
    tags: list[str],
    notes: str,
    **kw: Any,
) -> DatasetIn:
    return DatasetIn(
        name=name,
        title=title,
        title_en=title_en,
        owner_org=owner,
        groups=groups,
        tags=tags,
        notes=notes,
        license_id=kw.pop("license_id", "nghean-odl-1.0"),
        spatial=kw.pop("spatial", "Tỉnh Nghệ An"),
        frequency=kw.pop("frequency", "ANNUAL"),
        temporal_start=kw.pop("temporal_start", date(2025, 7, 1)),
        temporal_end=kw.pop("temporal_end", None),
        maintainer=kw.pop("maintainer", "Bộ phận dữ liệu"),
        featured=kw.pop("featured", False),
        extras=kw.pop("extras", {}),
    )


def _reference_publications() -> list[publishing.PublicationIn]:
    notes_communes = (
        "Danh mục 130 đơn vị hành chính cấp xã (119 xã, 11 phường) của tỉnh Nghệ An sau sắp xếp từ ngày "
        "01/7/2025, kèm các đơn vị cũ đã hợp nhất. Nguồn: Nghị quyết 1678/NQ-UBTVQH15, Công văn 1027/CTK-CSCL."
    )
    notes_roadmap = (
        "Danh sách 142 nhiệm vụ và lộ trình triển khai Khung kiến trúc số tỉnh Nghệ An ban hành theo Quyết định "
        "4520/QĐ-UBND ngày 31/12/2025: cơ quan chủ trì, cơ quan phối hợp và thời gian thực hiện."
    )
    P = publishing.PublicationIn
    return [
        P(
            source="reference:communes",
            dataset=_meta(
                "don-vi-hanh-chinh-cap-xa",
                "Danh mục đơn vị hành chính cấp xã tỉnh Nghệ An",
                "Commune-level administrative units of Nghệ An",
                NOI_VU,
                ["hanh-chinh"],
                ["địa giới", "hành chính", "xã phường"],
                notes_communes,
                featured=True,
                frequency="IRREG",
            ),
        ),
        P(
            source="reference:legacy_units",
            dataset=_meta(
                "don-vi-cap-xa-truoc-sap-xep",
                "Đơn vị cấp xã trước sắp xếp và đơn vị mới tương ứng",
                "Legacy commune-level units and their successors",
                NOI_VU,
                ["hanh-chinh"],
                ["địa giới", "sắp xếp đơn vị hành chính"],
                notes_communes,
                frequency="NEVER",
            ),
        ),
        P(
            source="reference:communes",
            group_by=["type"],
            measure="count",
            threshold=1,
            dataset=_meta(
                "so-don-vi-cap-xa-theo-loai",
                "Số đơn vị hành chính cấp xã theo loại",
                "Commune-level units by type",
                NOI_VU,
                ["hanh-chinh"],
                ["hành chính", "thống kê"],
                notes_communes,
                frequency="IRREG",
            ),
        ),
        P(
            source="reference:agencies",
            dataset=_meta(
                "danh-muc-co-quan-don-vi",
                "Danh mục cơ quan, đơn vị và mã định danh điện tử",
                "Agencies and their electronic identifier codes",
                NOI_VU,
                ["hanh-chinh"],
                ["cơ quan", "mã định danh"],
                "Danh mục các sở, ban, ngành và UBND cấp xã của tỉnh Nghệ An với mã định danh điện tử phục vụ kết nối, trao đổi văn bản và dữ liệu.",
                frequency="IRREG",
            ),
        ),
        P(
            source="reference:roadmap",
            dataset=_meta(
                "lo-trinh-khung-kien-truc-so",
                "Nhiệm vụ và lộ trình Khung kiến trúc số tỉnh Nghệ An",
                "Tasks and roadmap of Nghệ An's digital architecture framework",
                SKHCN,
                ["chuyen-doi-so"],
                ["chuyển đổi số", "kiến trúc số", "lộ trình"],
                notes_roadmap,
                featured=True,
                temporal_start=date(2026, 1, 1),
                temporal_end=date(2030, 12, 31),
                frequency="QUARTERLY",
            ),
        ),
        P(
            source="reference:roadmap",
            group_by=["lead"],
            measure="count",
            threshold=1,
            dataset=_meta(
                "nhiem-vu-theo-co-quan-chu-tri",
                "Số nhiệm vụ Khung kiến trúc số theo cơ quan chủ trì",
                "Framework tasks by lead agency",
                SKHCN,
                ["chuyen-doi-so"],
                ["chuyển đổi số", "lộ trình"],
                notes_roadmap,
                temporal_start=date(2026, 1, 1),
                frequency="QUARTERLY",
            ),
        ),
        P(
            source="reference:roadmap",
            group_by=["group", "group_title"],
            measure="count",
            threshold=1,
            dataset=_meta(
                "nhiem-vu-theo-nhom",
                "Số nhiệm vụ Khung kiến trúc số theo nhóm nhiệm vụ",
                "Framework tasks by group",
                SKHCN,
                ["chuyen-doi-so"],
                ["chuyển đổi số", "lộ trình"],
                notes_roadmap,
                temporal_start=date(2026, 1, 1),
                frequency="QUARTERLY",
            ),
        ),
    ]


Gen = Callable[[random.Random, list[Commune]], list[dict[str, Any]]]
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)] + [f"2026-{m:02d}" for m in range(1, 11)]
YEARS = list(range(2019, 2026))


def _by_commune(*cols: tuple[str, int, int]) -> Gen:
    def gen(rng: random.Random, communes: list[Commune]) -> list[dict[str, Any]]:
        return [
            {"commune_code": c.code, "commune_name": c.name, **{n: rng.randint(lo, hi) for n, lo, hi in cols}}
            for c in communes
        ]

    return gen


def _population(rng: random.Random, communes: list[Commune]) -> list[dict[str, Any]]:
    rows = []
    for c in communes:
        total = rng.randint(9_000, 60_000) if c.type == "xa" else rng.randint(25_000, 110_000)
        male = int(total * rng.uniform(0.48, 0.51))
        rows += [
            {"commune_code": c.code, "commune_name": c.name, "sex": "Nam", "population": male},
            {"commune_code": c.code, "commune_name": c.name, "sex": "Nữ", "population": total - male},
        ]
    return rows


def _monthly(*cols: tuple[str, int, int], keys: list[tuple[str, list[str]]] | None = None) -> Gen:
    def gen(rng: random.Random, communes: list[Commune]) -> list[dict[str, Any]]:
        rows = []
        combos: list[dict[str, str]] = [{}]
        for name, values in keys or []:
            combos = [{**c, name: v} for c in combos for v in values]
        for month in MONTHS:
            for combo in combos:
                rows.append({"month": month, **combo, **{n: rng.randint(lo, hi) for n, lo, hi in cols}})
        return rows

    return gen


def _yearly(*cols: tuple[str, int, int], keys: list[tuple[str, list[str]]] | None = None) -> Gen:
    def gen(rng: random.Random, communes: list[Commune]) -> list[dict[str, Any]]:
        rows = []
        combos: list[dict[str, str]] = [{}]
        for name, values in keys or []:
            combos = [{**c, name: v} for c in combos for v in values]
        for year in YEARS:
            for combo in combos:
                rows.append({"year": year, **combo, **{n: rng.randint(lo, hi) for n, lo, hi in cols}})
        return rows

    return gen


STATIONS = ["Vinh — Quang Trung", "Cửa Lò", "Hoàng Mai", "Thái Hòa", "Đô Lương"]
PROCEDURES = [
    "Đăng ký khai sinh",
    "Cấp phiếu lý lịch tư pháp",
    "Đăng ký kinh doanh hộ cá thể",
    "Cấp giấy phép xây dựng",
    "Chứng thực bản sao",
]
LEVELS = ["Mầm non", "Tiểu học", "Trung học cơ sở", "Trung học phổ thông"]
AGE_GROUPS = ["0-14", "15-24", "25-39", "40-59", "60+"]

# name, title, title_en, owner, groups, tags, frequency, columns (name, type, vi, en), generator
SYNTHETIC: list[
    tuple[str, str, str, str, list[str], list[str], str, list[tuple[str, str, str, str]], Gen]
] = [
    (
        "dan-so-theo-xa-va-gioi-tinh",
        "Dân số theo xã, phường và giới tính",
        "Population by commune and sex",
        THONG_KE,
        ["dan-cu"],
        ["dân số", "giới tính"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("sex", "text", "Giới tính", "Sex"),
            ("population", "integer", "Dân số", "Population"),
        ],
        _population,
    ),
    (
        "dien-tich-tu-nhien-theo-xa",
        "Diện tích tự nhiên theo xã, phường",
        "Land area by commune",
        NNMT,
        ["hanh-chinh", "moi-truong"],
        ["diện tích", "đất đai"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("area_ha", "integer", "Diện tích (ha)", "Area (ha)"),
        ],
        _by_commune(("area_ha", 1_500, 60_000)),
    ),
    (
        "ho-gia-dinh-theo-xa",
        "Số hộ gia đình theo xã, phường",
        "Households by commune",
        THONG_KE,
        ["dan-cu"],
        ["hộ gia đình", "dân số"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("households", "integer", "Số hộ", "Households"),
        ],
        _by_commune(("households", 2_500, 25_000)),
    ),
    (
        "ho-ngheo-theo-xa",
        "Hộ nghèo, hộ cận nghèo theo xã, phường",
        "Poor and near-poor households by commune",
        NOI_VU,
        ["dan-cu"],
        ["giảm nghèo", "an sinh"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("poor", "integer", "Hộ nghèo", "Poor households"),
            ("near_poor", "integer", "Hộ cận nghèo", "Near-poor households"),
        ],
        _by_commune(("poor", 20, 900), ("near_poor", 30, 1_200)),
    ),
    (
        "dan-so-theo-nhom-tuoi",
        "Dân số toàn tỉnh theo nhóm tuổi và giới tính",
        "Population by age group and sex",
        THONG_KE,
        ["dan-cu"],
        ["dân số", "nhóm tuổi"],
        "ANNUAL",
        [
            ("year", "integer", "Năm", "Year"),
            ("age_group", "text", "Nhóm tuổi", "Age group"),
            ("sex", "text", "Giới tính", "Sex"),
            ("population", "integer", "Dân số", "Population"),
        ],
        _yearly(("population", 150_000, 420_000), keys=[("age_group", AGE_GROUPS), ("sex", ["Nam", "Nữ"])]),
    ),
    (
        "ho-so-tthc-theo-thu-tuc-va-thang",
        "Hồ sơ thủ tục hành chính theo thủ tục và tháng",
        "Administrative dossiers by procedure and month",
        PVHCC,
        ["hanh-chinh", "chuyen-doi-so"],
        ["thủ tục hành chính", "hồ sơ", "dịch vụ công"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("procedure", "text", "Thủ tục", "Procedure"),
            ("received", "integer", "Hồ sơ tiếp nhận", "Received"),
            ("on_time", "integer", "Giải quyết đúng hạn", "Resolved on time"),
        ],
        _monthly(("received", 300, 2_500), ("on_time", 250, 2_300), keys=[("procedure", PROCEDURES)]),
    ),
    (
        "dich-vu-cong-truc-tuyen-theo-thang",
        "Hồ sơ trực tuyến toàn trình theo tháng",
        "Fully online dossiers by month",
        PVHCC,
        ["chuyen-doi-so"],
        ["dịch vụ công", "trực tuyến"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("online", "integer", "Hồ sơ trực tuyến", "Online dossiers"),
            ("total", "integer", "Tổng hồ sơ", "All dossiers"),
        ],
        _monthly(("online", 8_000, 30_000), ("total", 30_000, 60_000)),
    ),
    (
        "chat-luong-khong-khi-theo-thang",
        "Chỉ số chất lượng không khí (VN_AQI) trung bình theo trạm và tháng",
        "Monthly average air quality index (VN_AQI) by station",
        NNMT,
        ["moi-truong"],
        ["không khí", "AQI", "quan trắc"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("station", "text", "Trạm", "Station"),
            ("aqi", "integer", "VN_AQI trung bình", "Mean VN_AQI"),
        ],
        _monthly(("aqi", 25, 160), keys=[("station", STATIONS)]),
    ),
    (
        "chat-luong-nuoc-song-lam",
        "Chỉ số chất lượng nước (VN_WQI) sông Lam theo tháng",
        "Monthly water quality index (VN_WQI), Lam river",
        NNMT,
        ["moi-truong"],
        ["nước", "WQI", "sông Lam"],
        "MONTHLY",
        [("month", "text", "Tháng", "Month"), ("wqi", "integer", "VN_WQI", "VN_WQI")],
        _monthly(("wqi", 55, 95)),
    ),
    (
        "luong-mua-theo-thang",
        "Lượng mưa theo tháng tại Vinh",
        "Monthly rainfall in Vinh",
        NNMT,
        ["moi-truong"],
        ["khí tượng", "lượng mưa"],
        "MONTHLY",
        [("month", "text", "Tháng", "Month"), ("rainfall_mm", "integer", "Lượng mưa (mm)", "Rainfall (mm)")],
        _monthly(("rainfall_mm", 10, 650)),
    ),
    (
        "dien-tich-rung-theo-xa",
        "Diện tích rừng theo xã, phường",
        "Forest area by commune",
        NNMT,
        ["moi-truong", "nong-nghiep"],
        ["rừng", "lâm nghiệp"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("forest_ha", "integer", "Diện tích rừng (ha)", "Forest (ha)"),
        ],
        _by_commune(("forest_ha", 0, 45_000)),
    ),
    (
        "san-luong-lua-theo-xa",
        "Diện tích và sản lượng lúa theo xã, phường",
        "Rice area and output by commune",
        NNMT,
        ["nong-nghiep"],
        ["lúa", "nông nghiệp"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("area_ha", "integer", "Diện tích (ha)", "Area (ha)"),
            ("output_tonnes", "integer", "Sản lượng (tấn)", "Output (tonnes)"),
        ],
        _by_commune(("area_ha", 50, 3_500), ("output_tonnes", 300, 22_000)),
    ),
    (
        "dan-gia-suc-theo-nam",
        "Đàn gia súc, gia cầm toàn tỉnh theo năm",
        "Livestock by year",
        NNMT,
        ["nong-nghiep"],
        ["chăn nuôi"],
        "ANNUAL",
        [
            ("year", "integer", "Năm", "Year"),
            ("kind", "text", "Loại", "Kind"),
            ("heads", "integer", "Số con", "Heads"),
        ],
        _yearly(("heads", 200_000, 900_000), keys=[("kind", ["Trâu", "Bò", "Lợn"])]),
    ),
    (
        "truong-hoc-theo-xa",
        "Số trường học theo xã, phường và cấp học",
        "Schools by commune",
        GDDT,
        ["giao-duc"],
        ["trường học", "giáo dục"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("preschool", "integer", "Mầm non", "Preschools"),
            ("primary", "integer", "Tiểu học", "Primary"),
            ("lower_secondary", "integer", "THCS", "Lower secondary"),
        ],
        _by_commune(("preschool", 1, 9), ("primary", 1, 9), ("lower_secondary", 1, 6)),
    ),
    (
        "hoc-sinh-theo-cap-hoc",
        "Số học sinh theo cấp học và năm học",
        "Pupils by level and school year",
        GDDT,
        ["giao-duc"],
        ["học sinh", "giáo dục"],
        "ANNUAL",
        [
            ("year", "integer", "Năm học (bắt đầu)", "School year (start)"),
            ("level", "text", "Cấp học", "Level"),
            ("pupils", "integer", "Học sinh", "Pupils"),
        ],
        _yearly(("pupils", 80_000, 320_000), keys=[("level", LEVELS)]),
    ),
    (
        "ty-le-tot-nghiep-thpt",
        "Tỷ lệ tốt nghiệp THPT theo năm (phần nghìn)",
        "Upper-secondary graduation rate by year (per mille)",
        GDDT,
        ["giao-duc"],
        ["tốt nghiệp", "THPT"],
        "ANNUAL",
        [("year", "integer", "Năm", "Year"), ("rate_per_mille", "integer", "Tỷ lệ (‰)", "Rate (‰)")],
        _yearly(("rate_per_mille", 950, 999)),
    ),
    (
        "co-so-y-te-theo-xa",
        "Cơ sở y tế theo xã, phường",
        "Health facilities by commune",
        YTE,
        ["y-te"],
        ["y tế", "trạm y tế"],
        "ANNUAL",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("stations", "integer", "Trạm y tế", "Health stations"),
            ("doctors", "integer", "Bác sĩ", "Doctors"),
        ],
        _by_commune(("stations", 1, 4), ("doctors", 2, 40)),
    ),
    (
        "giuong-benh-theo-nam",
        "Số giường bệnh theo năm",
        "Hospital beds by year",
        YTE,
        ["y-te"],
        ["y tế", "bệnh viện"],
        "ANNUAL",
        [("year", "integer", "Năm", "Year"), ("beds", "integer", "Giường bệnh", "Beds")],
        _yearly(("beds", 11_000, 15_000)),
    ),
    (
        "tiem-chung-theo-thang",
        "Số mũi tiêm chủng mở rộng theo tháng",
        "Routine immunisation doses by month",
        YTE,
        ["y-te"],
        ["tiêm chủng"],
        "MONTHLY",
        [("month", "text", "Tháng", "Month"), ("doses", "integer", "Số mũi", "Doses")],
        _monthly(("doses", 9_000, 21_000)),
    ),
    (
        "doanh-nghiep-thanh-lap-moi",
        "Doanh nghiệp thành lập mới theo tháng",
        "New enterprises by month",
        TAICHINH,
        ["kinh-te"],
        ["doanh nghiệp", "đăng ký kinh doanh"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("new_enterprises", "integer", "Doanh nghiệp mới", "New enterprises"),
            ("capital_billion_vnd", "integer", "Vốn đăng ký (tỷ đồng)", "Registered capital (bn VND)"),
        ],
        _monthly(("new_enterprises", 90, 260), ("capital_billion_vnd", 600, 4_000)),
    ),
    (
        "thu-ngan-sach-theo-nam",
        "Thu ngân sách nhà nước trên địa bàn theo năm",
        "State budget revenue by year",
        THUE,
        ["tai-chinh"],
        ["ngân sách", "thuế"],
        "ANNUAL",
        [
            ("year", "integer", "Năm", "Year"),
            ("revenue_billion_vnd", "integer", "Thu ngân sách (tỷ đồng)", "Revenue (bn VND)"),
        ],
        _yearly(("revenue_billion_vnd", 14_000, 25_000)),
    ),
    (
        "chi-ngan-sach-theo-linh-vuc",
        "Chi ngân sách địa phương theo lĩnh vực",
        "Local budget expenditure by sector",
        TAICHINH,
        ["tai-chinh"],
        ["ngân sách", "chi tiêu công"],
        "ANNUAL",
        [
            ("year", "integer", "Năm", "Year"),
            ("sector", "text", "Lĩnh vực", "Sector"),
            ("spending_billion_vnd", "integer", "Chi (tỷ đồng)", "Spending (bn VND)"),
        ],
        _yearly(
            ("spending_billion_vnd", 800, 9_000),
            keys=[("sector", ["Giáo dục", "Y tế", "Giao thông", "Quản lý hành chính"])],
        ),
    ),
    (
        "kim-ngach-xuat-khau-theo-thang",
        "Kim ngạch xuất khẩu theo tháng",
        "Exports by month",
        CONGTHUONG,
        ["kinh-te"],
        ["xuất khẩu", "thương mại"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("exports_million_usd", "integer", "Xuất khẩu (triệu USD)", "Exports (million USD)"),
        ],
        _monthly(("exports_million_usd", 150, 420)),
    ),
    (
        "chi-so-san-xuat-cong-nghiep",
        "Chỉ số sản xuất công nghiệp theo tháng (năm gốc = 1000)",
        "Industrial production index by month",
        CONGTHUONG,
        ["kinh-te"],
        ["công nghiệp", "IIP"],
        "MONTHLY",
        [("month", "text", "Tháng", "Month"), ("iip", "integer", "Chỉ số IIP", "IIP")],
        _monthly(("iip", 950, 1_250)),
    ),
    (
        "khach-du-lich-theo-thang",
        "Lượt khách du lịch theo tháng",
        "Tourist arrivals by month",
        VHTTDL,
        ["van-hoa-du-lich"],
        ["du lịch", "Cửa Lò"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("domestic", "integer", "Khách trong nước", "Domestic"),
            ("international", "integer", "Khách quốc tế", "International"),
        ],
        _monthly(("domestic", 250_000, 1_300_000), ("international", 3_000, 25_000)),
    ),
    (
        "di-tich-theo-xa",
        "Di tích được xếp hạng theo xã, phường",
        "Ranked heritage sites by commune",
        VHTTDL,
        ["van-hoa-du-lich"],
        ["di tích", "văn hoá"],
        "IRREG",
        [
            ("commune_code", "text", "Mã xã", "Commune code"),
            ("commune_name", "text", "Tên xã", "Commune"),
            ("sites", "integer", "Số di tích", "Sites"),
        ],
        _by_commune(("sites", 0, 25)),
    ),
    (
        "giay-phep-xay-dung-theo-thang",
        "Giấy phép xây dựng đã cấp theo tháng",
        "Building permits issued by month",
        XAYDUNG,
        ["kinh-te"],
        ["xây dựng", "giấy phép"],
        "MONTHLY",
        [("month", "text", "Tháng", "Month"), ("permits", "integer", "Giấy phép", "Permits")],
        _monthly(("permits", 40, 260)),
    ),
    (
        "tai-nan-giao-thong-theo-thang",
        "Tai nạn giao thông theo tháng",
        "Road traffic accidents by month",
        CONGAN,
        ["giao-thong"],
        ["giao thông", "tai nạn"],
        "MONTHLY",
        [
            ("month", "text", "Tháng", "Month"),
            ("accidents", "integer", "Số vụ", "Accidents"),
            ("deaths", "integer", "Số người chết", "Deaths"),
            ("injured", "integer", "Số người bị thương", "Injured"),
        ],
        _monthly(("accidents", 15, 60), ("deaths", 5, 25), ("injured", 10, 50)),
    ),
    (
        "nguoi-tham-gia-bhxh",
        "Người tham gia bảo hiểm xã hội, bảo hiểm y tế theo năm",
        "Social and health insurance participants by year",
        BHXH,
        ["y-te", "dan-cu"],
        ["bảo hiểm xã hội", "bảo hiểm y tế"],
        "ANNUAL",
        [
            ("year", "integer", "Năm", "Year"),
            ("social_insurance", "integer", "BHXH", "Social insurance"),
            ("health_insurance", "integer", "BHYT", "Health insurance"),
        ],
        _yearly(("social_insurance", 350_000, 520_000), ("health_insurance", 2_900_000, 3_300_000)),
    ),
    (
        "lao-dong-viec-lam-theo-nam",
        "Lao động được tạo việc làm theo năm",
        "Jobs created by year",
        NOI_VU,
        ["kinh-te", "dan-cu"],
        ["lao động", "việc làm"],
        "ANNUAL",
        [
            ("year", "integer", "Năm", "Year"),
            ("jobs", "integer", "Lao động có việc làm mới", "New jobs"),
            ("abroad", "integer", "Đi làm việc ở nước ngoài", "Working abroad"),
        ],
        _yearly(("jobs", 38_000, 46_000), ("abroad", 12_000, 25_000)),
    ),
]


def _synthetic(session: Session, spec: tuple[Any, ...], communes: list[Commune], seed: int) -> None:
    name, title, title_en, owner, groups, tags, frequency, columns, gen = spec
    if session.scalar(select(Dataset.id).where(Dataset.name == name)) is not None:
        return
    rows = gen(random.Random(seed), communes)
    start = date(2025, 1, 1) if frequency == "MONTHLY" else date(2019, 1, 1)
    meta = _meta(
        name,
        title,
        title_en,
        owner,
        groups,
        tags,
        f"{title}. {title_en}." + SYNTHETIC_NOTE,
        frequency=frequency,
        temporal_start=start,
        temporal_end=date(2026, 10, 31) if frequency == "MONTHLY" else date(2025, 12, 31),
        license_id="CC-BY-4.0" if seed % 3 == 0 else "nghean-odl-1.0",
        extras={"synthetic": "true"},
        featured=name == "dan-so-theo-xa-va-gioi-tinh",
    )
    dataset = service.create_dataset(session, DEMO_ACTOR, meta)
    resource = service.create_resource(
        session, DEMO_ACTOR, dataset.id, ResourceIn(name=title, format="CSV", url="about:datastore")
    )
    resource.url_type, resource.url = "datastore", f"/datastore/dump/{resource.id}"
    types = {"integer": "int", "number": "numeric", "text": "text"}
    fields = [
        {"id": c, "type": types[t], "info": {"label": vi, "label_en": en, "notes": ""}}
        for c, t, vi, en in columns
    ]
    datastore.replace_rows(session, resource, fields, rows)
    service.refresh_derived(session, dataset)


def seed_demo(session: Session) -> None:
    """The demo catalogue (idempotent: datasets that exist are left alone)."""
    token = principal_var.set(DEMO_ACTOR)
    try:
        seed_reference(session)
        for pub in _reference_publications():
            assert pub.dataset is not None
            if session.scalar(select(Dataset.id).where(Dataset.name == pub.dataset.name)) is None:
                publishing.publish(session, DEMO_ACTOR, pub)
        communes = list(
            session.scalars(select(Commune).where(Commune.province_code == "40").order_by(Commune.code))
        )
        for i, spec in enumerate(SYNTHETIC):
            _synthetic(session, spec, communes, 4520 + i)
    finally:
        principal_var.reset(token)
