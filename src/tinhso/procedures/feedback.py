"""Citizens' feedback and petitions (phản ánh, kiến nghị — PAKN) and their handling deadlines.

A citizen sends feedback on one of his or her dossiers or on an agency's service; the agency accepts or refuses
it, may ask for more information (the processing clock pauses), answers, and publishes the answer; the citizen
says whether the answer satisfied him or her. The Decision 766 index reads two figures from here:
5.2, feedback handled within the deadlines (refusal within 2 working days, a request for more information
within 5, the answer within 15, publication within 2 of the answer), and 5.3, satisfaction with the handling
((all − disliked − late) / all). A dossier with feedback counts against 5.4.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from tinhso.procedures.calendar import TZ, WorkCalendar
from tinhso.procedures.models import Dossier, Feedback

CATEGORIES = {
    "reception": ("Thái độ, cách tiếp nhận", "Reception and attitude"),
    "delay": ("Chậm trễ, quá hạn", "Delays"),
    "requirements": ("Yêu cầu hồ sơ, thủ tục", "Procedure requirements"),
    "fees": ("Phí, lệ phí", "Fees"),
    "online": ("Dịch vụ công trực tuyến", "Online services"),
    "other": ("Khác", "Other"),
}
STATUSES = ("received", "in_progress", "supplement_requested", "answered", "published", "rejected")
OPEN = ("received", "in_progress", "supplement_requested")
OFFICIAL_ROLES = ("official", "agency_admin", "leader")

# Working-day limits of Decision 766's indicator 5.2.
REJECT_DAYS, SUPPLEMENT_DAYS, ANSWER_DAYS, PUBLISH_DAYS = 2, 5, 15, 2


@dataclass(frozen=True)
class Action:
    sources: tuple[str, ...]
    target: str
    who: str  # agency | submitter
    needs_note: bool = False


ACTIONS = {
    "accept": Action(("received",), "in_progress", "agency"),
    "reject": Action(("received",), "rejected", "agency", needs_note=True),
    "request_supplement": Action(("received", "in_progress"), "supplement_requested", "agency", True),
    "supplement": Action(("supplement_requested",), "in_progress", "submitter", True),
    "answer": Action(("in_progress",), "answered", "agency", needs_note=True),
    "publish": Action(("answered",), "published", "agency"),
}


def _new_code(now: datetime) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return f"PAKN-{now.astimezone(TZ):%y%m%d}-" + "".join(secrets.choice(alphabet) for _ in range(6))


def is_submitter(p: Principal, fb: Feedback) -> bool:
    return p.kind == "person" and fb.submitter_person_id is not None and fb.submitter_person_id == p.id


def is_handler(p: Principal, fb: Feedback) -> bool:
    if p.is_platform_admin:
        return True
    return p.kind == "person" and p.agency_code == fb.agency_code and p.has_role(*OFFICIAL_ROLES)


def submit(
    session: Session,
    principal: Principal,
    *,
    category: str,
    title: str,
    content: str,
    dossier_code: str | None = None,
    agency_code: str | None = None,
    now: datetime | None = None,
) -> Feedback:
    """Record a citizen's feedback on one of his or her dossiers, or on an agency's service."""
    if principal.kind != "person":
        raise Forbidden("person_only", "Only a signed-in person can send feedback")
    if category not in CATEGORIES:
        raise Unprocessable("unknown_category", "Unknown feedback category {category}", category=category)
    if not title.strip() or not content.strip():
        raise Unprocessable("feedback_empty", "Give a title and the content of the feedback")
    now = now or utcnow()
    commune: str | None = None
    if dossier_code:
        d = session.scalar(select(Dossier).where(Dossier.code == dossier_code))
        if d is None or d.applicant_person_id != principal.id:
            raise NotFound("dossier_not_found", "Dossier {code} not found", code=dossier_code)
        agency_code, commune = d.agency_code, d.commune_code
        # 5.4 counts dossiers with feedback; one UPDATE so an official's concurrent transition is not refused.
        session.execute(update(Dossier).where(Dossier.id == d.id).values(complaint=True))
    elif agency_code:
        agency = session.get(Agency, agency_code)
        if agency is None or not agency.active:
            raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
        commune = agency.commune_code if agency.kind == "commune" else None
    else:
        raise Unprocessable("feedback_target", "Name the dossier or the agency the feedback is about")
    fb = Feedback(
        code=_new_code(now),
        agency_code=agency_code,
        commune_code=commune,
        dossier_code=dossier_code,
        category=category,
        title=title.strip()[:300],
        content=content.strip(),
        submitter_person_id=principal.id,
        status="received",
        received_at=now,
    )
    session.add(fb)
    session.flush()
    audit.record(session, "procedures.feedback.submit", object_type="feedback", object_id=fb.code)
    events.publish(session, "procedures.feedback.received", _event(fb), key=fb.code)
    return fb


def act(
    session: Session,
    principal: Principal,
    fb: Feedback,
    action: str,
    *,
    version: int,
    note: str = "",
    now: datetime | None = None,
) -> Feedback:
    """Apply one handling step; a stale version (someone acted first) is refused with 409."""
    rule = ACTIONS.get(action)
    if rule is None:
        raise Unprocessable("unknown_action", "Unknown action {action}", action=action)
    allowed = is_handler(principal, fb) if rule.who == "agency" else is_submitter(principal, fb)
    if not allowed:
        raise Forbidden("feedback_action_not_permitted", "You may not {action} this feedback", action=action)
    if fb.version != version:
        raise Conflict("feedback_changed", "The feedback was changed by someone else; reload it")
    if fb.status not in rule.sources:
        raise Conflict(
            "feedback_transition_not_allowed",
            "Cannot {action} feedback that is {status}",
            action=action,
            status=fb.status,
        )
    if rule.needs_note and not note.strip():
        raise Unprocessable("note_required", "Give the reason")
    now = now or utcnow()
    before = fb.status
    if action == "reject":
        fb.rejected_at, fb.reason = now, note.strip()
    elif action == "request_supplement":
        fb.supplement_requested_at, fb.reason = fb.supplement_requested_at or now, note.strip()
    elif action == "supplement":
        fb.supplemented_at = now
        fb.supplement = (fb.supplement + "\n\n" + note.strip()).strip()
    elif action == "answer":
        fb.answered_at, fb.answer = now, note.strip()
    elif action == "publish":
        fb.published_at = now
    if rule.who == "agency":
        fb.handler_id = principal.id
    fb.status = rule.target
    fb.version = version + 1
    try:
        session.flush()
    except StaleDataError as exc:
        raise Conflict("feedback_changed", "The feedback was changed by someone else; reload it") from exc
    audit.record(
        session,
        f"procedures.feedback.{action}",
        object_type="feedback",
        object_id=fb.code,
        detail={"from": before, "to": fb.status},
    )
    events.publish(session, "procedures.feedback.changed", _event(fb), key=fb.code)
    return fb


def rate(session: Session, principal: Principal, fb: Feedback, satisfied: bool) -> Feedback:
    if not is_submitter(principal, fb):
        raise Forbidden("submitter_only", "Only the person who sent the feedback can do this")
    if fb.status not in ("answered", "published", "rejected"):
        raise Unprocessable("feedback_not_handled", "The feedback has not been handled yet")
    fb.satisfied = satisfied
    fb.version += 1
    session.flush()
    audit.record(
        session,
        "procedures.feedback.rate",
        object_type="feedback",
        object_id=fb.code,
        detail={"satisfied": satisfied},
    )
    return fb


def has_feedback(session: Session, dossier_code: str) -> bool:
    return (
        session.scalar(select(Feedback.id).where(Feedback.dossier_code == dossier_code).limit(1)) is not None
    )


def get_or_404(session: Session, code: str) -> Feedback:
    fb = session.scalar(select(Feedback).where(Feedback.code == code))
    if fb is None:
        raise NotFound("feedback_not_found", "Feedback {code} not found", code=code)
    return fb


def readable(session: Session, principal: Principal, code: str, purpose: str) -> Feedback:
    """The feedback if the caller sent it or handles it (the handler's read is logged with its purpose)."""
    fb = get_or_404(session, code)
    if is_submitter(principal, fb):
        return fb
    if not is_handler(principal, fb):
        raise NotFound("feedback_not_found", "Feedback {code} not found", code=code)
    audit.record(
        session,
        "procedures.feedback.read",
        object_type="feedback",
        object_id=fb.code,
        subject_id=fb.submitter_person_id,
        purpose=purpose,
    )
    return fb


def on_time(fb: Feedback, cal: WorkCalendar, at: datetime) -> bool:
    """Whether every handling step so far kept its 5.2 deadline, judged at `at` for steps still due."""
    received = fb.received_at

    def kept(done: datetime | None, due: datetime) -> bool:
        return (done if done is not None else at) <= due

    if fb.rejected_at is not None:
        return fb.rejected_at <= cal.due_after(received, REJECT_DAYS, "working_days")
    if fb.supplement_requested_at is not None and fb.supplement_requested_at > cal.due_after(
        received, SUPPLEMENT_DAYS, "working_days"
    ):
        return False
    answer_due = cal.due_after(received, ANSWER_DAYS, "working_days")
    if fb.supplement_requested_at is not None:
        resumed = fb.supplemented_at
        if resumed is None:
            return True  # waiting for the citizen: the processing clock is stopped
        answer_due = cal.shift_for_pause(answer_due, fb.supplement_requested_at, resumed)
    if not kept(fb.answered_at, answer_due):
        return False
    if fb.answered_at is None:
        return True
    return kept(fb.published_at, cal.due_after(fb.answered_at, PUBLISH_DAYS, "working_days"))


def _in_period(since: datetime, until: datetime, agency: str | None, commune: str | None) -> Select[Any]:
    stmt = select(Feedback).where(Feedback.received_at >= since, Feedback.received_at < until)
    if agency:
        stmt = stmt.where(Feedback.agency_code == agency)
    if commune:
        stmt = stmt.where(Feedback.commune_code == commune)
    return stmt


def figures(
    session: Session, since: datetime, until: datetime, key: str, agency: str | None, commune: str | None
) -> dict[str, dict[str, Any]]:
    """Per scope key (`province`, an agency code or a commune code): 5.1 counts by category, 5.2, 5.3."""
    cal = WorkCalendar.load(session)
    at = min(until, utcnow())
    out: dict[str, dict[str, Any]] = {}
    for fb in session.scalars(_in_period(since, until, agency, commune)):
        k = {"province": "province", "agency": fb.agency_code, "commune": fb.commune_code}[key]
        if k is None:
            continue
        row = out.setdefault(k, {"total": 0, "on_time": 0, "unsatisfied": 0, "by_category": {}})
        row["total"] += 1
        row["by_category"][fb.category] = row["by_category"].get(fb.category, 0) + 1
        timely = on_time(fb, cal, at)
        row["on_time"] += int(timely)
        # 5.3 takes away the disliked and the late ones; one that is both is taken away once.
        row["unsatisfied"] += int(fb.satisfied is False or not timely)
    return out


def trace(
    session: Session, since: datetime, until: datetime, agency: str | None, commune: str | None, limit: int
) -> dict[str, Any]:
    """The feedback received in the period, the late ones (5.2) and the disliked ones (5.3)."""
    cal = WorkCalendar.load(session)
    at = min(until, utcnow())
    rows = list(session.scalars(_in_period(since, until, agency, commune).order_by(Feedback.code)))
    late = [fb.code for fb in rows if not on_time(fb, cal, at)]
    return {
        "denominator": len(rows),
        "numerator": len(rows) - len(late),
        "feedback_codes": [fb.code for fb in rows][:limit],
        "late": late[:limit],
        "disliked": [fb.code for fb in rows if fb.satisfied is False][:limit],
    }


def _event(fb: Feedback) -> dict[str, Any]:
    return {
        "code": fb.code,
        "agency_code": fb.agency_code,
        "dossier_code": fb.dossier_code,
        "category": fb.category,
        "status": fb.status,
    }
