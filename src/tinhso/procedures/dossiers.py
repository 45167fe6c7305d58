"""Dossier rules: reception anywhere in the province, codes, deadlines, the state machine, overdue handling.

Never commits: the caller (a request or a task) owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tinhso.identity.models import Agency, Person
from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from tinhso.procedures.calendar import TZ, WorkCalendar
from tinhso.procedures.models import Dossier, DossierCounter, DossierHistory, Procedure

OPEN = ("received", "assigned", "in_review", "for_signature", "supplement_requested")
FINISHED = ("result_ready", "returned", "refused", "withdrawn")
STATUSES = OPEN + FINISHED
CHANNELS = {1: "in_person", 2: "online", 3: "postal"}


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    who: str  # agency | signer | applicant | agency_or_applicant


TRANSITIONS: dict[str, Transition] = {
    "assign": Transition(("received",), "assigned", "agency"),
    "start_review": Transition(("assigned",), "in_review", "agency"),
    "submit_for_signature": Transition(("in_review",), "for_signature", "agency"),
    "send_back": Transition(("for_signature",), "in_review", "signer"),
    "sign": Transition(("for_signature",), "result_ready", "signer"),
    "return_result": Transition(("result_ready",), "returned", "agency"),
    "request_supplement": Transition(("received", "assigned", "in_review"), "supplement_requested", "agency"),
    "supplement": Transition(("supplement_requested",), "in_review", "agency_or_applicant"),
    "refuse": Transition(("received", "assigned", "in_review", "for_signature"), "refused", "agency"),
    "withdraw": Transition(
        ("received", "assigned", "in_review", "supplement_requested"), "withdrawn", "agency_or_applicant"
    ),
}
NEEDS_NOTE = {"request_supplement", "refuse", "send_back"}


def next_code(session: Session, unit_code: str, at: datetime) -> str:
    """`<receiving unit code>-YYMMDD-NNNN` (Circular 01/2018/TT-VPCP Art. 19), unique under concurrency.

    The counter row is incremented with one UPDATE (a row lock on PostgreSQL, the write lock on SQLite), so
    two receptions at once never get the same number; the first reception of a day inserts the row.
    """
    day = at.astimezone(TZ).strftime("%y%m%d")
    for _ in range(3):
        res = session.execute(
            update(DossierCounter)
            .where(DossierCounter.unit_code == unit_code, DossierCounter.day == day)
            .values(last=DossierCounter.last + 1)
            .returning(DossierCounter.last)
        ).scalar_one_or_none()
        if res is not None:
            seq = int(res)
            break
        try:
            with session.begin_nested():
                session.execute(insert(DossierCounter).values(unit_code=unit_code, day=day, last=1))
            seq = 1
            break
        except IntegrityError:
            continue  # another reception created the row first; increment it
    else:  # pragma: no cover - three lost races in a row
        raise Conflict("dossier_code_busy", "Could not allocate a dossier code; try again")
    if seq > 9999:
        raise Conflict("dossier_code_exhausted", "The unit has received 9999 dossiers today")
    return f"{unit_code}-{day}-{seq:04d}"


def competent_agency(session: Session, proc: Procedure, commune_code: str | None) -> Agency:
    """The agency that settles a dossier of `proc` (a commune procedure goes to that commune's UBND)."""
    if proc.agency_code:
        agency = session.get(Agency, proc.agency_code)
    else:
        if not commune_code:
            raise Unprocessable(
                "commune_required", "Choose the commune whose People's Committee settles this"
            )
        agency = session.scalar(
            select(Agency).where(Agency.kind == "commune", Agency.commune_code == commune_code)
        )
    if agency is None:
        raise Unprocessable("commune_unknown", "Commune {code} does not exist", code=commune_code or "")
    return agency


def validate_form(proc: Procedure, data: dict[str, Any]) -> None:
    validator = Draft202012Validator(proc.form_schema or {}, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if errors:
        fields = ", ".join(sorted({".".join(map(str, e.path)) or e.validator for e in errors}))  # type: ignore[misc]
        raise Unprocessable("form_invalid", "The application form is not valid: {fields}", fields=fields)


def payload(d: Dossier) -> dict[str, Any]:
    """The event payload every consumer (KPIs, open data, portal sync) relies on."""
    return {
        "code": d.code,
        "procedure_code": d.procedure_code,
        "agency_code": d.agency_code,
        "commune_code": d.commune_code,
        "status": d.status,
        "channel": d.channel,
        "received_at": d.received_at.isoformat(),
        "due_at": d.due_at.isoformat(),
        "finished_at": d.finished_at.isoformat() if d.finished_at else None,
    }


def _history(
    session: Session, d: Dossier, action: str, before: str | None, p: Principal | None, note: str
) -> None:
    session.add(
        DossierHistory(
            dossier_id=d.id,
            at=utcnow(),
            action=action,
            from_status=before,
            to_status=d.status,
            actor_id=p.id if p else None,
            actor_agency_code=p.agency_code if p else None,
            note=note,
        )
    )


def _announce(session: Session, d: Dossier, action: str) -> None:
    events.publish(session, f"procedures.dossier.{action}", payload(d), key=d.code)


def receive(
    session: Session,
    principal: Principal,
    proc: Procedure,
    form: dict[str, Any],
    *,
    channel: int,
    commune_code: str | None,
    applicant_person_id: str | None,
    flags: dict[str, bool] | None = None,
    now: datetime | None = None,
) -> Dossier:
    """Receive a dossier: online from the applicant, or in person/by post at any one-stop centre."""
    if proc.status != "published":
        raise Conflict("procedure_closed", "Procedure {code} is not open for applications", code=proc.code)
    validate_form(proc, form)
    now = now or utcnow()
    if channel == 2:
        if principal.kind != "person" or not principal.has_role("citizen"):
            raise Forbidden("online_applicant_only", "Online dossiers are submitted by the applicant")
        if principal.personal_id and form.get("personal_id") != principal.personal_id:
            raise Unprocessable("applicant_mismatch", "The applicant's identity number must be your own")
        applicant_person_id = principal.id
    elif not principal.has_role("official") or not principal.agency_code:
        raise Forbidden("reception_officials_only", "Only officials of a one-stop centre receive dossiers")
    receiving = session.get(Agency, principal.agency_code) if channel != 2 else None
    if commune_code is None and receiving is not None and receiving.kind == "commune":
        commune_code = receiving.commune_code
    agency = competent_agency(session, proc, commune_code)
    unit_code = receiving.code if receiving is not None else agency.code
    cal = WorkCalendar.load(session)
    d = Dossier(
        code=next_code(session, unit_code, now),
        procedure_code=proc.code,
        receiving_agency_code=unit_code,
        agency_code=agency.code,
        commune_code=agency.commune_code or (receiving.commune_code if receiving else None) or commune_code,
        applicant_person_id=applicant_person_id,
        applicant_personal_id=form.get("personal_id"),
        applicant_name=str(form.get("applicant_name", "")),
        applicant_kind="individual",
        channel=channel,
        status="received",
        form_data=form,
        received_at=now,
        due_at=cal.due_after(now, proc.time_limit_value, proc.time_limit_unit),
        fee_total=sum(int(f.get("amount_vnd", 0)) for f in proc.fees or []),
    )
    d.payment_status = "pending" if d.fee_total > 0 else "none"
    for key, value in (flags or {}).items():
        setattr(d, key, value)
    session.add(d)
    session.flush()
    _history(session, d, "receive", None, principal, "")
    audit.record(
        session,
        "procedures.dossier.receive",
        object_type="dossier",
        object_id=d.code,
        detail={"procedure": proc.code, "channel": channel, "agency": agency.code},
    )
    _announce(session, d, "received")
    return d


def get_or_404(session: Session, code: str) -> Dossier:
    d = session.scalar(select(Dossier).where(Dossier.code == code))
    if d is None:
        raise NotFound("dossier_not_found", "Dossier {code} not found", code=code)
    return d


def is_applicant(p: Principal, d: Dossier) -> bool:
    return p.kind == "person" and d.applicant_person_id is not None and d.applicant_person_id == p.id


def audit_listed(session: Session, p: Principal, rows: list[Dossier], purpose: str) -> None:
    """A list showing applicants' names to anyone but the applicant reads each one's personal data."""
    for d in rows:
        if not is_applicant(p, d):
            audit.record(
                session,
                "procedures.dossier.list",
                object_type="dossier",
                object_id=d.code,
                subject_id=d.applicant_person_id,
                purpose=purpose,
            )


def is_agency_official(p: Principal, d: Dossier) -> bool:
    if p.is_platform_admin:
        return True
    return p.has_role("official", "agency_admin", "leader") and p.agency_code in (
        d.agency_code,
        d.receiving_agency_code,
    )


def can_read(p: Principal, d: Dossier, granted: set[str] | None) -> bool:
    if is_applicant(p, d) or is_agency_official(p, d):
        return True
    return granted is None or d.agency_code in granted


def _allowed(p: Principal, d: Dossier, proc: Procedure, rule: Transition) -> bool:
    if p.is_platform_admin:
        return True
    in_agency = p.agency_code == d.agency_code and p.has_role("official", "agency_admin", "leader")
    if rule.who == "agency":
        return in_agency
    if rule.who == "signer":
        roles = {s["role"] for s in proc.workflow if "ký" in s["name"].lower()} or {"leader"}
        if "official" in roles:
            return in_agency
        return p.agency_code == d.agency_code and p.has_role("leader", "agency_admin")
    return in_agency or is_applicant(p, d)


def transition(
    session: Session,
    principal: Principal,
    d: Dossier,
    action: str,
    *,
    version: int,
    note: str = "",
    now: datetime | None = None,
) -> Dossier:
    """Apply one transition; refuses a stale version (someone else acted first) with 409."""
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise Unprocessable("unknown_action", "Unknown action {action}", action=action)
    proc = session.get(Procedure, d.procedure_code)
    assert proc is not None
    if not _allowed(principal, d, proc, rule):
        raise Forbidden("transition_not_permitted", "You may not {action} this dossier", action=action)
    if d.version != version:
        raise Conflict("dossier_changed", "The dossier was changed by someone else; reload it")
    if d.status not in rule.sources:
        raise Conflict(
            "transition_not_allowed",
            "Cannot {action} a dossier that is {status}",
            action=action,
            status=d.status,
        )
    if action in NEEDS_NOTE and not note.strip():
        raise Unprocessable("note_required", "Give the reason")
    now = now or utcnow()
    before = d.status
    cal = WorkCalendar.load(session)
    if before == "supplement_requested" and d.paused_at is not None:
        d.due_at = cal.shift_for_pause(d.due_at, d.paused_at, now)
        d.paused_seconds += int((now - d.paused_at).total_seconds())
        d.paused_at = None
    if action == "request_supplement":
        d.paused_at = now
        d.supplement_count += 1
    if action == "assign":
        d.assigned_to = principal.id
    d.status = rule.target
    if rule.target in ("result_ready", "refused", "withdrawn") and d.finished_at is None:
        d.finished_at = now
        d.overdue = now > d.due_at
    if action == "return_result":
        d.returned_at = now
    steps = len(proc.workflow) or 1
    d.step_index = {
        "received": 0,
        "assigned": 0,
        "in_review": min(1, steps - 1),
        "for_signature": max(0, steps - 2),
        "result_ready": steps - 1,
        "returned": steps - 1,
    }.get(d.status, d.step_index)
    if note:
        d.note = note
    d.version = version + 1
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("dossier_changed", "The dossier was changed by someone else; reload it") from exc
    _history(session, d, action, before, principal, note)
    audit.record(
        session,
        f"procedures.dossier.{action}",
        object_type="dossier",
        object_id=d.code,
        detail={"from": before, "to": d.status},
    )
    if action == "sign":
        from tinhso.procedures.results import issue_result

        issue_result(session, d, proc)
    if d.overdue and d.finished_at == now and d.apology_text is None:
        d.apology_text = apology_letter(session, d, proc)
    _announce(session, d, action)
    return d


def apology_letter(session: Session, d: Dossier, proc: Procedure) -> str:
    """The draft apology letter (thư xin lỗi) a late agency sends the applicant, with a new appointment."""
    agency = session.get(Agency, d.agency_code)
    cal = WorkCalendar.load(session)
    new_due = cal.add_working_days(max(utcnow(), d.due_at).astimezone(TZ).date(), 3)
    return (
        f"{(agency.name if agency else d.agency_code).upper()}\n"
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\nĐộc lập - Tự do - Hạnh phúc\n\n"
        "THƯ XIN LỖI\n\n"
        f"Kính gửi: Ông/Bà {d.applicant_name}\n\n"
        f"Ngày {d.received_at.astimezone(TZ):%d/%m/%Y}, {agency.name if agency else ''} tiếp nhận hồ sơ "
        f"{d.code} về thủ tục {proc.name}, hẹn trả kết quả ngày {d.due_at.astimezone(TZ):%d/%m/%Y}.\n"
        "Tuy nhiên, đến nay hồ sơ chưa được giải quyết đúng hạn. Cơ quan thành thật xin lỗi Ông/Bà vì sự chậm "
        f"trễ này và hẹn trả kết quả vào ngày {new_due:%d/%m/%Y}.\n\n"
        "Trân trọng."
    )


def sweep_deadlines(session: Session, now: datetime | None = None) -> dict[str, int]:
    """Warn about dossiers due within one working day and mark overdue ones (with an apology draft).

    System marks use a plain UPDATE that leaves `version` alone, so officials at work never get a spurious 409.
    """
    now = now or utcnow()
    cal = WorkCalendar.load(session)
    soon = datetime.combine(cal.add_working_days(now.astimezone(TZ).date(), 1), datetime.max.time(), TZ)
    active = ("received", "assigned", "in_review", "for_signature")
    warned = overdue = 0
    for d in session.scalars(
        select(Dossier).where(
            Dossier.status.in_(active),
            Dossier.warned_at.is_(None),
            Dossier.due_at <= soon,
            Dossier.due_at > now,
        )
    ):
        session.execute(update(Dossier).where(Dossier.id == d.id).values(warned_at=now))
        _announce(session, d, "warning")
        warned += 1
    for d in session.scalars(
        select(Dossier).where(Dossier.status.in_(active), Dossier.overdue.is_(False), Dossier.due_at < now)
    ):
        proc = session.get(Procedure, d.procedure_code)
        assert proc is not None
        text = apology_letter(session, d, proc)
        session.execute(update(Dossier).where(Dossier.id == d.id).values(overdue=True, apology_text=text))
        session.refresh(d)
        _announce(session, d, "overdue")
        overdue += 1
    return {"warned": warned, "overdue": overdue}


def applicant_person(session: Session, d: Dossier) -> Person | None:
    return session.get(Person, d.applicant_person_id) if d.applicant_person_id else None
