"""Architecture-compliance rules as code: each rule quotes the decision, and gives a verdict, evidence and remedy.

Evidence comes from live platform data where the platform has it (the identity service's credentials, the
exchange module's traffic, the data module's dictionary conformity, read through the `measures` hook) and
otherwise from the owner's declarations in the registry; every result says which (`source`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from tinhso.governance.measures import BACKUP_MAX_AGE, Measure
from tinhso.governance.models import ComplianceResult, RegisteredSystem
from tinhso.identity.models import ClientCredential
from tinhso.kit.db import utcnow

LIVE_WINDOW = timedelta(days=30)
CONFORMITY_THRESHOLD = 90.0  # data.quality.overall, 0-100


@dataclass
class Finding:
    verdict: str  # pass, fail, warn, not_applicable
    message: str  # English msgid, translated on display
    params: dict[str, Any] = field(default_factory=dict)
    source: str = "declared"  # declared, live, mixed
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    session: Session
    now: datetime
    measures: dict[str, Measure]
    cache: dict[tuple[str, str | None], float | None] = field(default_factory=dict)

    def measure(self, measure_id: str, agency: str | None) -> float | None:
        """A live measure for the last 30 days, or None when no module provides it (not measured yet).

        Measures depend on the agency, not the system: one run over many systems asks each agency once.
        """
        fn = self.measures.get(measure_id)
        if fn is None:
            return None
        key = (measure_id, agency)
        if key not in self.cache:
            with self.session.begin_nested():
                self.cache[key] = fn(self.session, self.now - LIVE_WINDOW, self.now, agency)
        return self.cache[key]


@dataclass(frozen=True)
class Rule:
    code: str
    section: str  # where in Decision 4520/QĐ-UBND
    quote: str  # the decision's words (Vietnamese, verbatim or abridged with …)
    title: str  # English msgid
    remedy: str  # English msgid
    check: Callable[[RegisteredSystem, Context], Finding]


def _hub(s: RegisteredSystem, ctx: Context) -> Finding:
    if s.integration == "none" and not s.services_exposed and not s.services_consumed:
        return Finding("not_applicable", "The system exchanges no data with other systems")
    if s.integration not in ("lgsp", "ndxp"):
        return Finding(
            "fail",
            "Declared to connect directly ({integration}), not through the LGSP",
            {"integration": s.integration},
        )
    calls = ctx.measure("exchange.calls", s.agency_code)
    if calls is None:
        return Finding(
            "pass",
            "Declared to connect through {integration}; exchange traffic not measured yet",
            {"integration": s.integration.upper()},
        )
    if calls == 0 and s.status == "live":
        return Finding(
            "warn",
            "Declared to connect through the LGSP, but the hub saw no call from the agency in 30 days",
            source="live",
            data={"exchange.calls": calls},
        )
    return Finding(
        "pass",
        "The hub carried {calls} calls of the agency in the last 30 days",
        {"calls": int(calls)},
        "live",
        {"exchange.calls": calls},
    )


def _apis(s: RegisteredSystem, ctx: Context) -> Finding:
    if not s.services_exposed:
        return Finding("not_applicable", "The system exposes no API")
    missing = [x.get("code", "?") for x in s.services_exposed if not x.get("openapi_url")]
    data: dict[str, Any] = {"missing": missing}
    published = ctx.measure("exchange.published_services", s.agency_code)
    if published is not None:
        data["exchange.published_services"] = published
    if missing:
        return Finding(
            "fail", "APIs without an OpenAPI document: {apis}", {"apis": ", ".join(missing)}, "declared", data
        )
    if published is not None and published == 0 and s.status == "live":
        return Finding(
            "fail", "The agency has no service published in the exchange catalogue", source="live", data=data
        )
    if published is not None:
        return Finding(
            "pass",
            "All {n} exposed APIs have an OpenAPI document; the agency publishes {p} services in the catalogue",
            {"n": len(s.services_exposed), "p": int(published)},
            "mixed",
            data,
        )
    return Finding(
        "pass",
        "All {n} exposed APIs have an OpenAPI document",
        {"n": len(s.services_exposed)},
        "declared",
        data,
    )


def _signin(s: RegisteredSystem, ctx: Context) -> Finding:
    live: dict[str, Any] = {}
    if s.identity_system_id:
        live["active_credentials"] = ctx.session.scalar(
            select(func.count())
            .select_from(ClientCredential)
            .where(
                ClientCredential.system_id == s.identity_system_id,
                ClientCredential.revoked_at.is_(None),
                or_(ClientCredential.expires_at.is_(None), ClientCredential.expires_at > ctx.now),
            )
        )
    if s.sign_in == "none" and not s.identity_system_id:
        return Finding("not_applicable", "The system has no users who sign in")
    if s.sign_in == "own_accounts":
        return Finding(
            "fail",
            "The system keeps its own user accounts instead of the shared identity platform",
            data=live,
        )
    if s.identity_system_id and live["active_credentials"] == 0:
        return Finding(
            "warn",
            "Registered on the identity platform but holds no active credential",
            source="live",
            data=live,
        )
    if s.identity_system_id:
        return Finding(
            "pass",
            "Signs in through the shared identity platform ({n} active credentials)",
            {"n": live["active_credentials"]},
            "live",
            live,
        )
    return Finding("pass", "Declared to sign users in through {method}", {"method": s.sign_in})


def _dictionary(s: RegisteredSystem, ctx: Context) -> Finding:
    if not s.entities_mastered:
        return Finding("not_applicable", "The system masters no shared data entity")
    score = ctx.measure(
        "data.quality.overall", s.agency_code
    )  # 0-100, batches checked against the dictionary
    entities = ", ".join(str(e) for e in s.entities_mastered)
    if score is None:
        return Finding(
            "warn",
            "Masters {entities}; conformity to the dictionary not measured yet",
            {"entities": entities},
        )
    data = {"data.quality.overall": score}
    if score < CONFORMITY_THRESHOLD:
        return Finding(
            "fail",
            "The agency's data scores {score}/100 against the dictionary's checks",
            {"score": round(score, 1)},
            "live",
            data,
        )
    return Finding(
        "pass",
        "The agency's data scores {score}/100 against the dictionary's checks",
        {"score": round(score, 1)},
        "live",
        data,
    )


def _duplicate(s: RegisteredSystem, ctx: Context) -> Finding:
    if s.duplicates_platform and not s.exemption_ref:
        return Finding(
            "fail",
            "Duplicates the shared platform {platform} without a recorded exemption",
            {"platform": s.duplicates_platform},
        )
    if s.sectoral_software and not s.ministry_consent_ref:
        return Finding("fail", "Sectoral software without the ministry's written consent")
    if s.duplicates_platform or s.sectoral_software:
        return Finding(
            "pass", "Exemption or consent recorded: {ref}", {"ref": s.exemption_ref or s.ministry_consent_ref}
        )
    return Finding("pass", "Duplicates no shared or national platform")


def _security_level(s: RegisteredSystem, ctx: Context) -> Finding:
    if s.security_level is None:
        return Finding("fail", "The security level (Decree 85/2016) has not been determined")
    if not s.security_approved:
        return Finding(
            "fail", "Security level {level} proposed but not approved", {"level": s.security_level}
        )
    return Finding(
        "pass",
        "Security level {level} approved ({ref})",
        {"level": s.security_level, "ref": s.security_approval_ref or "—"},
    )


def _monitoring(s: RegisteredSystem, ctx: Context) -> Finding:
    if (s.security_level or 0) < 3:
        return Finding("not_applicable", "Applies to security level 3 and above")
    missing = [x for x in ("network", "application", "database", "endpoint") if x not in (s.monitoring or [])]
    if missing:
        return Finding(
            "fail",
            "Level {level} but not monitored at: {layers}",
            {"level": s.security_level, "layers": ", ".join(missing)},
            data={"missing": missing},
        )
    return Finding("pass", "Monitored at network, application, database and endpoint")


def _backup(s: RegisteredSystem, ctx: Context) -> Finding:
    if not s.holds_important_data:
        return Finding("not_applicable", "The system holds no important data")
    limit = BACKUP_MAX_AGE.get(s.backup_frequency)
    if limit is None:
        return Finding("fail", "Holds important data but has no backup schedule")
    if s.last_backup_at is None:
        return Finding(
            "fail", "Backs up {frequency}, but no backup has been reported", {"frequency": s.backup_frequency}
        )
    age = ctx.now - s.last_backup_at
    data = {"last_backup_at": s.last_backup_at.isoformat(), "age_hours": round(age.total_seconds() / 3600, 1)}
    if age > limit:
        return Finding(
            "fail",
            "The last backup is {days} days old, older than its {frequency} schedule",
            {"days": age.days, "frequency": s.backup_frequency},
            data=data,
        )
    return Finding(
        "pass",
        "Backed up {frequency}; last backup {hours} hours ago",
        {"frequency": s.backup_frequency, "hours": round(age.total_seconds() / 3600)},
        data=data,
    )


def _reporting(s: RegisteredSystem, ctx: Context) -> Finding:
    if s.status != "live":
        return Finding("not_applicable", "Applies to systems in operation")
    if not s.reports_operational_data:
        return Finding("fail", "The system does not report operational data to the KPI framework")
    return Finding("pass", "Reports operational data to the KPI framework")


def _hosting(s: RegisteredSystem, ctx: Context) -> Finding:
    if s.hosting in ("provincial_dc", "gov_cloud", "national_platform"):
        return Finding("pass", "Hosted at {hosting}", {"hosting": s.hosting})
    return Finding(
        "warn",
        "Hosted at {hosting}, outside the provincial data centre and the government cloud",
        {"hosting": s.hosting},
    )


RULES: list[Rule] = [
    Rule(
        "KT-01",
        "Phụ lục, mục II.2(1); III.2",
        "Nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh (LGSP): Là hạ tầng kết nối, chia sẻ dữ liệu cấp tỉnh … kết nối với Nền tảng tích hợp, chia sẻ dữ liệu quốc gia để kết nối ra bên ngoài",
        "Connects to other systems only through the provincial hub (LGSP)",
        "Move every connection to the LGSP: register the services you expose and consume in the exchange catalogue and call them through the gateway.",
        _hub,
    ),
    Rule(
        "KT-02",
        "Phụ lục, mục II.1(2)",
        "Mọi hệ thống thông tin cấp bộ, cấp tỉnh, cấp xã khi triển khai phải đăng ký, công bố và tuân thủ chuẩn API quốc gia thông qua V-APEX",
        "Every exposed API is registered with an OpenAPI document",
        "Publish an OpenAPI 3 document for each API the system exposes and register it in the exchange catalogue.",
        _apis,
    ),
    Rule(
        "KT-03",
        "Phụ lục, mục II.1(3); IV.2",
        "Nền tảng định danh và xác thực điện tử … cho phép xác thực và truy cập vào các dịch vụ số … tuân thủ các quy định bảo mật về phiên làm việc, xác thực định danh",
        "Users and systems sign in through the shared identity platform",
        "Replace the system's own accounts with sign-in through the province's identity platform (and VNeID for citizens); register the system as a client.",
        _signin,
    ),
    Rule(
        "KT-04",
        "Phụ lục, mục II.1(8); II.2(6)",
        "Khung kiến trúc dữ liệu quốc gia, Khung quản trị, quản lý dữ liệu quốc gia và Từ điển dữ liệu dùng chung quốc gia áp dụng thống nhất …",
        "Master data conforms to the shared data dictionary",
        "Map the entities the system masters to the data dictionary and correct the records that fail its checks.",
        _dictionary,
    ),
    Rule(
        "KT-05",
        "Phụ lục, mục III.2",
        "Khi xây dựng và triển khai các hệ thống thông tin, nền tảng số cần phải bảo đảm không trùng lặp với các hệ thống dùng chung … phải có văn bản xin ý kiến thống nhất của Bộ, ngành quản lý chuyên ngành",
        "Duplicates no shared or national platform without a recorded exemption",
        "Use the shared platform instead, or record the exemption (or, for sectoral software, the ministry's written consent) in the registry.",
        _duplicate,
    ),
    Rule(
        "KT-06",
        "Phụ lục, mục I.2(4); Nghị định 85/2016/NĐ-CP",
        "Hạ tầng An ninh mạng: Là thành phần xuyên suốt … bảo vệ an toàn thiết bị, an toàn mạng, an toàn hệ thống, an toàn ứng dụng CNTT, an toàn dữ liệu, quản lý và giám sát",
        "The security level is determined and approved",
        "Prepare the security-level dossier (Decree 85/2016/NĐ-CP), have it approved, and record the approval's reference and date.",
        _security_level,
    ),
    Rule(
        "KT-07",
        "Phụ lục, mục I.2(5); I.1(8)",
        "Trung tâm Điều hành và Giám sát an ninh mạng (SOC): Cung cấp hạ tầng điều hành và giám sát các hoạt động của hệ thống",
        "Level 3 and above is monitored at network, application, database and endpoint",
        "Connect the system to the provincial SOC at every missing layer (network, application, database, endpoint).",
        _monitoring,
    ),
    Rule(
        "KT-08",
        "Phụ lục, mục I.2(4), I.2(7)",
        "… an toàn dữ liệu … Quản lý cơ sở hạ tầng: … nâng cao tính sẵn sàng, đảm bảo hiệu quả của toàn bộ hệ thống",
        "Important data is backed up on schedule",
        "Back up the system's important data on a schedule (daily for level 3 and above) and report each backup.",
        _backup,
    ),
    Rule(
        "KT-09",
        "Phụ lục, mục IV.1",
        "Tất cả dự án, nền tảng, cơ sở dữ liệu và hệ thống thông tin thuộc phạm vi điều chỉnh của Khung phải cung cấp dữ liệu vận hành và báo cáo KPI định kỳ hoặc thời gian thực theo chuẩn chung",
        "Live operational data is reported to the KPI framework",
        "Expose the system's operational figures to the platform (measures or exchange reports) so its KPIs are measured automatically.",
        _reporting,
    ),
    Rule(
        "KT-10",
        "Phụ lục, mục I.2(1); I.1(3)",
        "Lưu ý: sử dụng Trung tâm dữ liệu hiện có, trong đó tập trung vào các giải pháp xây dựng và hợp nhất hạ tầng thông tin, hạ tầng số tại địa phương",
        "Hosted in the provincial data centre, the government cloud or a national platform",
        "Plan the system's move to the provincial data centre or the national data centre's cloud.",
        _hosting,
    ),
]
RULES_BY_CODE = {r.code: r for r in RULES}


def evaluate(
    session: Session,
    system: RegisteredSystem,
    measures: dict[str, Measure],
    now: datetime | None = None,
    ctx: Context | None = None,
) -> list[ComplianceResult]:
    """Re-run every rule on a system and replace its stored results; returns them in rule order."""
    ctx = ctx or Context(session, now or utcnow(), measures)
    existing = {
        r.rule_code: r
        for r in session.scalars(select(ComplianceResult).where(ComplianceResult.system_id == system.id))
    }
    results = []
    for rule in RULES:
        if system.status == "retired":
            finding = Finding("not_applicable", "The system is retired")
        else:
            try:
                finding = rule.check(system, ctx)
            except Exception as exc:  # noqa: BLE001 - one broken check must not hide the other rules
                finding = Finding("warn", "The check could not run: {error}", {"error": str(exc)[:200]})
        row = existing.get(rule.code) or ComplianceResult(system_id=system.id, rule_code=rule.code)
        row.verdict, row.source = finding.verdict, finding.source
        row.evidence = {"message": finding.message, "params": finding.params, "data": finding.data}
        row.evaluated_at = ctx.now
        session.add(row)
        results.append(row)
    system.compliance_checked_at = ctx.now
    system.compliance_failed = sum(1 for r in results if r.verdict == "fail")
    session.flush()
    return results
