"""The register of AI systems used in the province and their risk classification.

Risk levels follow the criteria the province applies to "AI có trách nhiệm": what data the system uses,
what role it plays in decisions about people, and who is affected. The level is computed from those facts,
never typed in, and every level carries the reasons that produced it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tinhso.assistant.models import AISystem
from tinhso.assistant.schemas import AISystemCreate, AISystemUpdate
from tinhso.identity import repository as identity_repo
from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from tinhso.kit.text import fold

LEVELS = ("minimal", "limited", "high", "unacceptable")


def _reason(code: str, vi: str, en: str) -> dict[str, str]:
    return {"code": code, "vi": vi, "en": en}


def classify_risk(
    personal_data: str, decision_role: str, affected: list[str], prohibited: list[str]
) -> tuple[str, list[dict[str, str]]]:
    """The risk level and the reasons, from the data used, the role in decisions, and who is affected."""
    reasons: list[dict[str, str]] = []
    public = bool({"citizens", "businesses", "vulnerable"} & set(affected))
    if prohibited:
        reasons.append(
            _reason(
                "prohibited_practice",
                "Thuộc hành vi bị cấm: " + ", ".join(prohibited),
                "A prohibited practice: " + ", ".join(prohibited),
            )
        )
        return "unacceptable", reasons
    level = "minimal"
    if decision_role == "decides" and public:
        reasons.append(
            _reason(
                "decides_on_people",
                "Tự động ra quyết định ảnh hưởng đến người dân, doanh nghiệp",
                "Makes decisions that affect citizens or businesses",
            )
        )
        level = "high"
    if personal_data == "sensitive":
        reasons.append(
            _reason(
                "sensitive_personal_data",
                "Xử lý dữ liệu cá nhân nhạy cảm",
                "Processes sensitive personal data",
            )
        )
        level = "high"
    if "vulnerable" in affected and personal_data != "none":
        reasons.append(
            _reason(
                "vulnerable_people",
                "Ảnh hưởng đến nhóm dễ bị tổn thương và dùng dữ liệu cá nhân",
                "Affects vulnerable people and uses personal data",
            )
        )
        level = "high"
    if level != "high":
        if public:
            reasons.append(
                _reason(
                    "interacts_with_public",
                    "Tương tác trực tiếp với người dân: phải cho biết họ đang dùng AI",
                    "Interacts with the public: people must be told they are using AI",
                )
            )
            level = "limited"
        if personal_data == "personal":
            reasons.append(_reason("personal_data", "Xử lý dữ liệu cá nhân", "Processes personal data"))
            level = "limited"
        if decision_role == "assists":
            reasons.append(
                _reason(
                    "assists_officials",
                    "Gợi ý cho cán bộ; cán bộ quyết định",
                    "Suggests to officials, who decide",
                )
            )
            level = "limited"
    if not reasons:
        reasons.append(
            _reason(
                "informational_internal",
                "Chỉ cung cấp thông tin nội bộ, không dùng dữ liệu cá nhân",
                "Internal information only, no personal data",
            )
        )
    return level, reasons


def can_manage(principal: Principal, agency_code: str) -> bool:
    if principal.is_platform_admin:
        return True
    return "agency_admin" in principal.roles and principal.agency_code == agency_code


def systems_statement(q: str | None, risk_level: str | None, agency_code: str | None) -> Select[Any]:
    stmt = select(AISystem).order_by(AISystem.code)
    if risk_level:
        stmt = stmt.where(AISystem.risk_level == risk_level)
    if agency_code:
        stmt = stmt.where(AISystem.owner_agency_code == agency_code)
    return stmt


def search(
    session: Session, q: str | None, risk_level: str | None, agency_code: str | None
) -> list[AISystem]:
    rows = list(session.scalars(systems_statement(q, risk_level, agency_code)))
    if q:
        words = fold(q).split()
        rows = [r for r in rows if all(w in fold(f"{r.code} {r.name} {r.purpose}") for w in words)]
    return rows


def get(session: Session, system_id: str) -> AISystem:
    row = session.get(AISystem, system_id) or session.scalar(
        select(AISystem).where(AISystem.code == system_id)
    )
    if row is None:
        raise NotFound("ai_system_not_found", "AI system {id} not found", id=system_id)
    return row


def _apply_risk(row: AISystem) -> None:
    row.risk_level, row.risk_reasons = classify_risk(
        row.personal_data, row.decision_role, list(row.affected or []), list(row.prohibited_practices or [])
    )
    if row.risk_level == "unacceptable" and row.status == "active":
        raise Unprocessable(
            "ai_system_prohibited", "A system with a prohibited practice cannot be put into use"
        )


def create(session: Session, principal: Principal, data: AISystemCreate) -> AISystem:
    if not can_manage(principal, data.owner_agency_code):
        raise Forbidden("ai_system_not_yours", "You may register only your own agency's AI systems")
    if identity_repo.get_agency(session, data.owner_agency_code) is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=data.owner_agency_code)
    if session.scalar(select(AISystem.id).where(AISystem.code == data.code)) is not None:
        raise Conflict(
            "ai_system_exists", "An AI system with code {code} is already registered", code=data.code
        )
    row = AISystem(**data.model_dump())
    _apply_risk(row)
    session.add(row)
    session.flush()
    audit.record(session, "assistant.ai_system.create", object_type="ai_system", object_id=row.id)
    events.publish(session, "assistant.ai_system.registered", {"id": row.id, "code": row.code}, key=row.id)
    return row


def update(session: Session, principal: Principal, system_id: str, data: AISystemUpdate) -> AISystem:
    row = get(session, system_id)
    if not can_manage(principal, row.owner_agency_code):
        raise Forbidden("ai_system_not_yours", "You may change only your own agency's AI systems")
    if data.version != row.version:
        raise Conflict()
    for key, value in data.model_dump(exclude_unset=True, exclude={"version"}).items():
        if value is not None:
            setattr(row, key, value)
    _apply_risk(row)
    row.version += 1
    session.flush()
    audit.record(session, "assistant.ai_system.update", object_type="ai_system", object_id=row.id)
    events.publish(session, "assistant.ai_system.changed", {"id": row.id, "code": row.code}, key=row.id)
    return row


def delete(session: Session, principal: Principal, system_id: str) -> None:
    row = get(session, system_id)
    if not can_manage(principal, row.owner_agency_code):
        raise Forbidden("ai_system_not_yours", "You may change only your own agency's AI systems")
    audit.record(session, "assistant.ai_system.delete", object_type="ai_system", object_id=row.id)
    events.publish(session, "assistant.ai_system.removed", {"id": row.id, "code": row.code}, key=row.id)
    session.delete(row)
    session.flush()


SKHCN = "000.00.02.H41"
OWN_SYSTEMS: list[dict[str, Any]] = [
    {
        "code": "TINHSO-TRO-LY-AO",
        "name": "Trợ lý ảo dịch vụ công (tinhso assistant)",
        "owner_agency_code": SKHCN,
        "purpose": "Trả lời câu hỏi của người dân, doanh nghiệp và cán bộ về thủ tục hành chính (giấy tờ, phí, "
        "thời hạn, nơi nộp) và về tài liệu nội bộ, kèm đường dẫn đến nguồn.",
        "data_used": [
            "Danh mục thủ tục hành chính đã công bố",
            "Tài liệu nội bộ do cơ quan tải lên",
            "Câu hỏi của người dùng (đã che dữ liệu cá nhân trước khi lưu)",
        ],
        "personal_data": "none",
        "decision_role": "informs",
        "affected": ["citizens", "businesses", "officials"],
        "human_oversight": "Mọi câu trả lời được ghi nhật ký cùng nguồn; Sở KH&CN rà soát định kỳ. Khi độ tin cậy "
        "thấp, trợ lý không trả lời mà chuyển người dân tới đường dây nóng và Trung tâm Phục vụ hành chính công.",
        "transparency_note": "Đây là trợ lý ảo tự động. Câu trả lời chỉ lấy từ danh mục thủ tục đã công bố, không "
        "thay thế hướng dẫn của cán bộ; phí, lệ phí và thời hạn luôn trích nguyên văn từ danh mục.",
        "status": "active",
    },
    {
        "code": "TINHSO-XU-LY-VAN-BAN",
        "name": "Dịch vụ xử lý văn bản tiếng Việt dùng chung",
        "owner_agency_code": SKHCN,
        "purpose": "Chuẩn hóa văn bản, khôi phục dấu, tách từ, trích từ khóa và gợi ý cơ quan xử lý phản ánh, "
        "kiến nghị cho hệ thống của các cơ quan qua API.",
        "data_used": ["Văn bản do hệ thống gọi gửi đến (không lưu)", "Tập ví dụ phản ánh đã gán nhãn"],
        "personal_data": "personal",
        "decision_role": "assists",
        "affected": ["officials"],
        "human_oversight": "Gợi ý cơ quan xử lý chỉ là đề xuất; dưới ngưỡng tin cậy, phản ánh được chuyển cho cán bộ "
        "phân loại. Cán bộ luôn là người quyết định chuyển xử lý.",
        "transparency_note": "Kết quả phân loại kèm các từ ngữ làm căn cứ và độ tin cậy; độ chính xác đo trên tập "
        "kiểm thử được công bố trong tài liệu.",
        "status": "active",
    },
]


def seed_own_systems(session: Session) -> None:
    """Register the platform's own AI services (idempotent)."""
    if identity_repo.get_agency(session, SKHCN) is None:
        return
    for spec in OWN_SYSTEMS:
        if session.scalar(select(AISystem.id).where(AISystem.code == spec["code"])) is not None:
            continue
        row = AISystem(**spec)
        _apply_risk(row)
        session.add(row)
    session.flush()
