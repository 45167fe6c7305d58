"""Demo data: the systems the decision names, registered by their agencies; some roadmap progress; a KPI run."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.governance import kpi, service
from tinhso.governance.models import RegisteredSystem
from tinhso.governance.schemas import Evidence, ProgressCreate, SystemCreate
from tinhso.identity import repository as identity_repo
from tinhso.identity.principal import Principal
from tinhso.identity.service import principal_for_person
from tinhso.kit.db import utcnow

SKHCN, VP, CA, NNMT, XD, VH, YT, TP, CT = (
    "000.00.02.H41",
    "000.00.01.H41",
    "000.00.15.H41",
    "000.00.06.H41",
    "000.00.08.H41",
    "000.00.11.H41",
    "000.00.10.H41",
    "000.00.05.H41",
    "000.00.07.H41",
)
MON4 = ["network", "application", "database", "endpoint"]


def _systems(now_backup: Any) -> list[dict[str, Any]]:
    fresh = now_backup - timedelta(hours=6)
    stale = now_backup - timedelta(days=20)
    return [
        dict(
            agency_code=SKHCN,
            code="LGSP",
            link="LGSP",
            name="Nền tảng tích hợp, chia sẻ dữ liệu tỉnh (LGSP)",
            layer="data",
            component="II.2(1) LGSP",
            purpose="Kết nối, chia sẻ dữ liệu giữa các HTTT, CSDL của tỉnh và với NDXP",
            status="live",
            security_level=3,
            security_approved=True,
            security_approval_ref="125/QĐ-SKHCN",
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="shared_sso",
            services_exposed=[
                {"code": "lgsp-catalog", "openapi_url": "https://lgsp.nghean.gov.vn/openapi.json"}
            ],
            national_platforms=["ndxp", "v_apex"],
            holds_important_data=True,
            backup_frequency="daily",
            last_backup_at=fresh,
            monitoring=MON4,
            reports_operational_data=True,
        ),
        dict(
            agency_code=SKHCN,
            code="IOC",
            name="Trung tâm giám sát, điều hành thông minh (IOC)",
            layer="application",
            component="III.2 IOC",
            purpose="Tổng hợp dữ liệu các lĩnh vực, giám sát và hỗ trợ ra quyết định",
            status="live",
            security_level=3,
            security_approved=True,
            security_approval_ref="126/QĐ-SKHCN",
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="shared_sso",
            holds_important_data=True,
            backup_frequency="daily",
            last_backup_at=fresh,
            monitoring=["network", "application", "database"],
            reports_operational_data=True,
        ),
        dict(
            agency_code=SKHCN,
            code="KDL",
            name="Kho dữ liệu dùng chung và Nền tảng tổng hợp, phân tích dữ liệu",
            layer="data",
            component="II.2(2)-(3)",
            purpose="Thu thập, hợp nhất, làm sạch, chuẩn hoá dữ liệu phục vụ phân tích",
            status="building",
            security_level=3,
            security_approved=False,
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="shared_sso",
            entities_mastered=["to_chuc", "dia_ban"],
            holds_important_data=True,
            backup_frequency="weekly",
            monitoring=MON4,
        ),
        dict(
            agency_code=SKHCN,
            code="SOC",
            name="Trung tâm Điều hành và Giám sát an ninh mạng (SOC)",
            layer="infrastructure",
            component="I.2(5) SOC",
            purpose="Giám sát an toàn thông tin các hệ thống của tỉnh",
            status="live",
            security_level=4,
            security_approved=True,
            security_approval_ref="88/QĐ-UBND",
            hosting="provincial_dc",
            integration="none",
            sign_in="shared_sso",
            national_platforms=["phong_ve_mang"],
            holds_important_data=True,
            backup_frequency="daily",
            last_backup_at=fresh,
            monitoring=MON4,
            reports_operational_data=True,
        ),
        dict(
            agency_code=SKHCN,
            code="DLMO",
            name="Cổng dữ liệu mở tỉnh Nghệ An",
            layer="channel",
            component="II.2 dữ liệu mở",
            purpose="Công bố dữ liệu mở theo DCAT, liên thông Cổng dữ liệu quốc gia",
            status="live",
            security_level=2,
            security_approved=True,
            security_approval_ref="140/QĐ-SKHCN",
            hosting="gov_cloud",
            integration="lgsp",
            sign_in="shared_sso",
            services_exposed=[{"code": "ckan-api", "openapi_url": "https://data.nghean.gov.vn/openapi.json"}],
            national_platforms=["cong_du_lieu_quoc_gia"],
            reports_operational_data=True,
        ),
        dict(
            agency_code=VP,
            code="TTHC",
            link="TTHC",
            name="Hệ thống thông tin giải quyết TTHC tỉnh",
            layer="application",
            component="III.2 HTTT giải quyết TTHC",
            purpose="Tiếp nhận, giải quyết, theo dõi thủ tục hành chính; đồng bộ Cổng DVC quốc gia",
            status="live",
            security_level=3,
            security_approved=True,
            security_approval_ref="77/QĐ-UBND",
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="vneid",
            entities_mastered=["ho_so_tthc"],
            services_exposed=[
                {"code": "dossier-status", "openapi_url": "https://dichvucong.nghean.gov.vn/openapi.json"},
                {"code": "dossier-sync", "openapi_url": None},
            ],
            national_platforms=["dvc_quoc_gia", "vneid", "csdl_dan_cu"],
            holds_important_data=True,
            backup_frequency="daily",
            last_backup_at=fresh,
            monitoring=MON4,
            reports_operational_data=True,
        ),
        dict(
            agency_code=VP,
            code="QLVB",
            name="Hệ thống quản lý văn bản và điều hành",
            layer="application",
            component="III.2 ứng dụng hỗ trợ",
            purpose="Quản lý văn bản, liên thông Trục liên thông văn bản quốc gia",
            status="live",
            security_level=3,
            security_approved=True,
            security_approval_ref="78/QĐ-UBND",
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="shared_sso",
            national_platforms=["truc_van_ban", "ky_so_cong_vu"],
            holds_important_data=True,
            backup_frequency="daily",
            last_backup_at=stale,
            monitoring=["network", "application"],
            reports_operational_data=False,
        ),
        dict(
            agency_code=CA,
            code="DANCU",
            link="DANCU",
            name="Phân hệ dân cư Công an tỉnh",
            layer="data",
            component="II.1(7) CSDL quốc gia về dân cư",
            purpose="Khai thác CSDL quốc gia về dân cư phục vụ TTHC",
            status="live",
            security_level=4,
            security_approved=True,
            security_approval_ref="Bộ Công an",
            hosting="national_platform",
            integration="ndxp",
            sign_in="vneid",
            entities_mastered=["cong_dan"],
            national_platforms=["csdl_dan_cu", "ndop", "vneid"],
            holds_important_data=True,
            backup_frequency="daily",
            last_backup_at=fresh,
            monitoring=MON4,
            reports_operational_data=True,
        ),
        dict(
            agency_code=NNMT,
            code="DATDAI",
            link="DATDAI",
            name="Cơ sở dữ liệu đất đai",
            layer="data",
            component="II.2(5) CSDL chuyên ngành",
            purpose="Quản lý dữ liệu đất đai, đồng bộ CSDL quốc gia về đất đai",
            status="live",
            security_level=3,
            security_approved=True,
            security_approval_ref="310/QĐ-UBND",
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="shared_sso",
            entities_mastered=["thua_dat"],
            services_exposed=[{"code": "land-parcel", "openapi_url": None}],
            national_platforms=["csdl_dat_dai", "ndxp"],
            holds_important_data=True,
            backup_frequency="weekly",
            last_backup_at=stale,
            monitoring=MON4,
            reports_operational_data=True,
        ),
        dict(
            agency_code=NNMT,
            code="QTMT",
            name="Hệ thống quan trắc và giám sát môi trường",
            layer="application",
            component="III.2 lĩnh vực ưu tiên",
            purpose="Thu thập liên tục thông số môi trường, cảnh báo tự động",
            status="live",
            security_level=2,
            security_approved=True,
            security_approval_ref="412/QĐ-SNNMT",
            hosting="provincial_dc",
            integration="lgsp",
            sign_in="shared_sso",
            reports_operational_data=True,
        ),
        dict(
            agency_code=NNMT,
            code="BDSNN",
            name="Bản đồ số nông nghiệp",
            layer="application",
            component="III.2 lĩnh vực ưu tiên",
            purpose="Số hoá vùng trồng, truy xuất nguồn gốc, cảnh báo thời tiết",
            status="building",
            security_level=2,
            hosting="commercial_cloud",
            integration="direct",
            sign_in="own_accounts",
        ),
        dict(
            agency_code=XD,
            code="BAIDOXE",
            name="Bãi đỗ xe thông minh",
            layer="application",
            component="III.2 lĩnh vực ưu tiên",
            purpose="Tra cứu, đặt chỗ và thanh toán bãi đỗ",
            status="planned",
            hosting="gov_cloud",
            integration="lgsp",
            sign_in="vneid",
        ),
        dict(
            agency_code=VH,
            code="DULICHSO",
            name="Giải pháp chuyển đổi số du lịch",
            layer="channel",
            component="III.2 lĩnh vực ưu tiên",
            purpose="Thông tin du lịch 24/7, đa ngôn ngữ, VR 360",
            status="building",
            security_level=1,
            security_approved=True,
            security_approval_ref="21/QĐ-SVHTTDL",
            hosting="gov_cloud",
            integration="lgsp",
            sign_in="none",
        ),
        dict(
            agency_code=YT,
            code="QLYT",
            name="Phần mềm quản lý chuyên ngành y tế",
            layer="application",
            component="III.2 phần mềm chuyên ngành",
            purpose="Quản lý cơ sở khám chữa bệnh",
            status="live",
            security_level=2,
            security_approved=True,
            security_approval_ref="55/QĐ-SYT",
            hosting="agency_premises",
            integration="direct",
            sign_in="own_accounts",
            sectoral_software=True,
            reports_operational_data=False,
        ),
        dict(
            agency_code=TP,
            code="HOTICH",
            name="Phần mềm hộ tịch của Sở",
            layer="application",
            component="III.2 phần mềm chuyên ngành",
            purpose="Đăng ký, quản lý hộ tịch",
            status="retired",
            hosting="agency_premises",
            integration="direct",
            sign_in="own_accounts",
            duplicates_platform="csdl_ho_tich",
        ),
    ]


def _principal(session: Session, username: str) -> Principal | None:
    person = identity_repo.get_person_by_username(session, username)
    return principal_for_person(session, person) if person else None


PROGRESS = [
    (
        "I.2",
        "in_progress",
        60,
        "Dự thảo quy định kết nối liên thông đã lấy ý kiến các sở, ngành",
        "Tờ trình 512/TTr-SKHCN",
    ),
    ("II.1.1", "done", 100, "LGSP đã kết nối NDXP và vận hành chính thức", "Biên bản nghiệm thu 33/BB-SKHCN"),
    (
        "IV.2.24",
        "in_progress",
        40,
        "Đưa vào thử nghiệm hệ thống đăng ký ứng dụng CNTT (sổ đăng ký HTTT)",
        "Kế hoạch 77/KH-SKHCN",
    ),
    (
        "V.2.8",
        "in_progress",
        30,
        "Xây dựng bộ chỉ số KPI, đo tự động từ dữ liệu nền tảng",
        "Công văn 901/SKHCN-CĐS",
    ),
    ("III.2.1", "in_progress", 50, "Triển khai IOC giai đoạn 1", "Quyết định 245/QĐ-UBND"),
]


def seed_demo(session: Session) -> None:
    from tinhso.governance.tasks import subscribe
    from tinhso.kit.events import bus

    subscribe(bus)  # so the seed's own dispatch delivers the reminders (and later modules' alerts) to the IOC
    admin = _principal(session, "admin")
    if admin is None:
        return
    systems_by_code = {}
    for item in _systems(utcnow()):
        item = dict(item)
        link = item.pop("link", None)
        if link:
            linked = identity_repo.get_system_by_code(session, item["agency_code"], link)
            item["identity_system_id"] = linked.id if linked else None
        existing = session.scalar(
            select(RegisteredSystem).where(
                RegisteredSystem.agency_code == item["agency_code"], RegisteredSystem.code == item["code"]
            )
        )
        if existing is None:
            existing = service.create_system(session, admin, SystemCreate(**item))
        systems_by_code[item["code"]] = existing
    skhcn_admin = _principal(session, "skhcn.admin") or admin
    for code, status, percent, comment, ref in PROGRESS:
        try:
            task = service.get_task(session, admin, code)
        except Exception:  # noqa: BLE001 - the roadmap may have been edited; skip what is missing
            continue
        lead_skhcn = any(a.agency_code == SKHCN and a.role == "lead" for a in task.agencies)
        who = skhcn_admin if lead_skhcn else admin
        service.report_progress(
            session,
            who,
            task.id,
            ProgressCreate.model_validate(
                {
                    "status": status,
                    "percent": percent,
                    "comment": comment,
                    "evidence": [Evidence(title=ref, reference=ref)],
                }
            ),
            idempotency_key=f"demo-{code}",
        )
    service.notify_overdue(session)
    kpi.run(session, trigger="demo")
