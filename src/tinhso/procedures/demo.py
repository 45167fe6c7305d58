"""Demo data: a year of synthetic dossiers across the 130 communes and the departments, with realistic
on-time, late, supplemented and online shares, plus dossiers of the demo citizens in every state.

Deterministic (fixed random seed) and idempotent: a second run adds nothing.
"""

from __future__ import annotations

import random
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency, Person
from tinhso.kit.db import new_id, utcnow
from tinhso.procedures import files, signing
from tinhso.procedures.calendar import TZ, WorkCalendar
from tinhso.procedures.models import (
    Dossier,
    DossierCounter,
    DossierHistory,
    EDataDocument,
    Feedback,
    Organisation,
    OrganisationMember,
    Procedure,
)

DEMO_NOTE = "demo"
TTPVHCC = "000.00.19.H41"
DEMO_ORGANISATION = "2900012347"  # a valid enterprise code for the demo company
FIRST = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Hữu", "Ngọc", "Quang"]
LAST = [
    "An",
    "Bình",
    "Châu",
    "Dũng",
    "Hà",
    "Hải",
    "Hoa",
    "Hùng",
    "Lan",
    "Linh",
    "Nam",
    "Phương",
    "Sơn",
    "Trang",
]


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(MIDDLE)} {rng.choice(LAST)}"


def seed_demo(session: Session, count: int = 4000, seed: int = 4520) -> int:
    if session.scalar(select(func.count()).select_from(Dossier).where(Dossier.note == DEMO_NOTE)):
        return 0
    rng = random.Random(seed)
    cal = WorkCalendar.load(session)
    procs = list(session.scalars(select(Procedure).where(Procedure.status == "published")))
    communes = list(session.scalars(select(Agency).where(Agency.kind == "commune").order_by(Agency.code)))
    for p in procs:  # publishing dates for indicators 1.1 and 1.2
        p.effective_date = date(2025, 7, 1) + timedelta(days=rng.randint(0, 300))
        p.decision_date = p.effective_date - timedelta(days=rng.choice([3, 8, 10, 14]))
        p.disclosed_date = p.decision_date + timedelta(days=rng.choice([1, 3, 5, 9]))
    weights = [3.0 if p.level == "xa" else 1.0 for p in procs]
    now = utcnow()
    rows: list[dict[str, Any]] = []
    counters: dict[tuple[str, str], int] = {}
    for _ in range(count):
        proc = rng.choices(procs, weights)[0]
        age = rng.random() ** 0.9 * 365
        received = (
            (now - timedelta(days=age))
            .astimezone(TZ)
            .replace(hour=rng.randint(7, 16), minute=rng.randint(0, 59))
        )
        received = received.astimezone(now.tzinfo)
        if received > now:
            received = now - timedelta(minutes=5)
        commune = rng.choice(communes)
        online_share = 0.30 + 0.25 * (1 - age / 365)
        channel = 2 if rng.random() < online_share else (3 if rng.random() < 0.06 else 1)
        if proc.level == "xa":
            agency, commune_code = commune.code, commune.commune_code
            receiving = commune.code if channel != 2 else commune.code
        else:
            agency = proc.agency_code or TTPVHCC
            commune_code = commune.commune_code if rng.random() < 0.2 else None
            receiving = agency if channel == 2 else (commune.code if commune_code else TTPVHCC)
        day = received.astimezone(TZ).strftime("%y%m%d")
        seq = counters.get((receiving, day), 0) + 1
        counters[(receiving, day)] = seq
        due = cal.due_after(received, proc.time_limit_value, proc.time_limit_unit)
        allowed = due - received
        row: dict[str, Any] = {
            "id": new_id(),
            "code": f"{receiving}-{day}-{seq:04d}",
            "procedure_code": proc.code,
            "receiving_agency_code": receiving,
            "agency_code": agency,
            "commune_code": commune_code,
            "applicant_name": _name(rng),
            "applicant_personal_id": f"040{rng.randint(10**8, 10**9 - 1)}",
            "applicant_kind": "individual",
            "channel": channel,
            "form_data": {},
            "received_at": received,
            "due_at": due,
            "version": 1,
            "paused_seconds": 0,
            "supplement_count": 0,
            "step_index": 0,
            "fee_total": sum(int(f.get("amount_vnd", 0)) for f in proc.fees or []),
            "paid_online": 0,
            "payment_status": "none",
            "digitised": rng.random() < 0.8,
            "reused_data": rng.random() < 0.45,
            "from_data_store": rng.random() < 0.25,
            "vneid_verified": channel == 2 and rng.random() < 0.6,
            "population_data": proc.population_data and rng.random() < 0.7,
            "overdue": False,
            "complaint": False,
            "note": DEMO_NOTE,
            "created_at": received,
            "updated_at": received,
        }
        if row["fee_total"]:
            paid = rng.random() < 0.9
            row["payment_status"] = "paid" if paid else "pending"
            row["paid_online"] = (1 if rng.random() < 0.5 else 2) if paid and channel == 2 else 0
        roll = rng.random()
        if roll < 0.10:  # supplemented once: the clock paused for a few working days
            pause = rng.randint(1, 6)
            row["supplement_count"] = 1
            row["paused_seconds"] = pause * 86400
            row["due_at"] = due + timedelta(days=pause + pause // 5 * 2)
        elapsed = (now - received).days
        late = rng.random() < 0.07
        took = allowed * (rng.uniform(1.05, 1.6) if late else rng.uniform(0.3, 0.95))
        finish = received + took + timedelta(seconds=row["paused_seconds"])
        if finish < now and elapsed > 2:
            end = rng.random()
            row["status"] = "refused" if end < 0.02 else "withdrawn" if end < 0.03 else "returned"
            row["finished_at"] = finish
            row["returned_at"] = (
                finish + timedelta(hours=rng.randint(1, 48)) if row["status"] == "returned" else None
            )
            row["overdue"] = finish > row["due_at"]
            if rng.random() < 0.3:
                rating = rng.choices([5, 4, 3, 2, 1], [55, 30, 9, 4, 2])[0]
                row["rating"], row["complaint"] = rating, rating <= 2
        else:
            row["status"] = rng.choice(["received", "assigned", "in_review", "in_review", "for_signature"])
            if row["supplement_count"] and rng.random() < 0.3:
                row["status"] = "supplement_requested"
                row["paused_at"] = now - timedelta(days=1)
            row["overdue"] = row["due_at"] < now
        row["synced_at"] = received + timedelta(minutes=5) if rng.random() < 0.96 else None
        rows.append(row)
    # Real signed results (4.1 electronic results): most finished online dossiers, some in-person ones.
    finished = [
        r
        for r in rows
        if r["status"] == "returned" and (r["channel"] == 2 and rng.random() < 0.85 or rng.random() < 0.25)
    ]
    finished.sort(key=lambda r: r["received_at"], reverse=True)  # the recent months are fully digital
    docs = []
    for r in finished[:900]:
        text = f"KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH\nSố: KQ-{r['code']}\nHồ sơ: {r['code']}\n".encode()
        stored = files.store(text, "text/plain")
        sig, cert = signing.sign(text)
        doc_id = new_id()
        docs.append(
            {
                "id": doc_id,
                "owner_person_id": f"demo:{r['id']}"[:32],
                "title": "Kết quả giải quyết TTHC",
                "kind": "result",
                "filename": f"KQ-{r['code']}.txt",
                "media_type": stored.media_type,
                "size": stored.size,
                "sha256": stored.sha256,
                "storage_key": stored.storage_key,
                "dossier_code": r["code"],
                "signature_b64": sig,
                "certificate_pem": cert,
                "verify_token": secrets.token_urlsafe(24),
                "created_at": r["finished_at"],
                "updated_at": r["finished_at"],
            }
        )
        r["result_document_id"], r["result_code"] = doc_id, f"KQ-{r['code']}"
    for r in rows:
        r.setdefault("finished_at", None)
        r.setdefault("returned_at", None)
        r.setdefault("paused_at", None)
        r.setdefault("rating", None)
        r.setdefault("result_document_id", None)
        r.setdefault("result_code", None)
    pakn = _demo_feedback(rng, rows, now)
    for i in range(0, len(rows), 1000):
        session.execute(insert(Dossier), rows[i : i + 1000])
    if pakn:
        session.execute(insert(Feedback), pakn)
    if docs:
        session.execute(insert(EDataDocument), docs)
    history = [
        {
            "dossier_id": r["id"],
            "at": r["received_at"],
            "action": "receive",
            "from_status": None,
            "to_status": "received",
            "note": "",
        }
        for r in rows
    ]
    for i in range(0, len(history), 1000):
        session.execute(insert(DossierHistory), history[i : i + 1000])
    existing = {(c.unit_code, c.day): c for c in session.scalars(select(DossierCounter))}
    new = []
    for (unit, day), last in counters.items():
        if (unit, day) in existing:
            existing[(unit, day)].last = max(existing[(unit, day)].last, last)
        else:
            new.append({"unit_code": unit, "day": day, "last": last})
    for i in range(0, len(new), 1000):
        session.execute(insert(DossierCounter), new[i : i + 1000])
    session.flush()
    _citizen_dossiers(session, cal, now)
    return len(rows)


def _demo_feedback(rng: random.Random, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Feedback on about 3 % of the dossiers (more on the late and badly rated ones), handled mostly in time."""
    from tinhso.procedures.feedback import CATEGORIES

    out: list[dict[str, Any]] = []
    for r in rows:
        odds = 0.25 if r["overdue"] or (r.get("rating") or 5) <= 2 else 0.02
        if rng.random() >= odds:
            continue
        r["complaint"] = True
        received = r["received_at"] + timedelta(days=rng.uniform(1, 20))
        if received >= now:
            continue
        category = "delay" if r["overdue"] else rng.choice(list(CATEGORIES))
        fb: dict[str, Any] = {
            "id": new_id(),
            "code": f"PAKN-{received.astimezone(TZ):%y%m%d}-{new_id()[:6].upper()}",
            "agency_code": r["agency_code"],
            "commune_code": r["commune_code"],
            "dossier_code": r["code"],
            "category": category,
            "title": CATEGORIES[category][0],
            "content": f"Phản ánh về hồ sơ {r['code']}.",
            "submitter_person_id": None,
            "status": "received",
            "version": 1,
            "received_at": received,
            "reason": "",
            "supplement": "",
            "answer": "",
            "satisfied": None,
            "created_at": received,
            "updated_at": received,
        }
        fb |= {k: None for k in ("rejected_at", "supplement_requested_at", "supplemented_at")}
        fb |= {"answered_at": None, "published_at": None, "handler_id": None}
        roll = rng.random()
        if roll < 0.05:
            fb |= {"status": "rejected", "rejected_at": received + timedelta(days=rng.uniform(0.2, 3.5))}
            fb["reason"] = "Nội dung không thuộc thẩm quyền giải quyết."
        else:
            answered = received + timedelta(days=rng.uniform(2, 24))  # a few beyond 15 working days
            if answered < now:
                fb |= {"status": "answered", "answered_at": answered}
                fb["answer"] = "Cơ quan đã kiểm tra và trả lời nội dung phản ánh."
                published = answered + timedelta(days=rng.uniform(0.2, 3.5))
                if published < now and rng.random() < 0.9:
                    fb |= {"status": "published", "published_at": published}
            else:
                fb["status"] = "in_progress"
        if fb["status"] in ("answered", "published", "rejected") and rng.random() < 0.6:
            fb["satisfied"] = rng.random() < 0.75
        out.append(fb)
    return out


def _citizen_dossiers(session: Session, cal: WorkCalendar, now: datetime) -> None:
    """Dossiers of the demo citizen in several states, so a newcomer sees a lived-in account."""
    from tinhso.identity.principal import Principal
    from tinhso.procedures import dossiers

    person = session.scalar(select(Person).where(Person.username == "congdan"))
    if person is None or not person.personal_id:
        return
    me = Principal(
        kind="person",
        id=person.id,
        name=person.full_name,
        agency_code=None,
        roles=frozenset({"citizen"}),
        personal_id=person.personal_id,
    )
    proc = session.get(Procedure, "1.004873")  # certificate of marital status, commune level
    if proc is None:
        return
    form = {
        "applicant_name": person.full_name,
        "personal_id": person.personal_id,
        "address": "Phường Trường Vinh, Nghệ An",
        "purpose_of_use": "Đăng ký kết hôn",
    }
    commune = session.scalar(select(Agency.commune_code).where(Agency.code == "001.00.00.H41"))
    dossiers.receive(
        session,
        me,
        proc,
        form,
        channel=2,
        commune_code=commune,
        applicant_person_id=person.id,
        now=now - timedelta(hours=2),
    )
    # The demo citizen is also the legal representative of a small company with its own e-data store.
    if session.get(Organisation, DEMO_ORGANISATION) is None:
        session.add(
            Organisation(
                code=DEMO_ORGANISATION,
                name="Công ty TNHH Du lịch Biển Cửa Lò",
                address="Phường Cửa Lò, Nghệ An",
            )
        )
        session.add(
            OrganisationMember(
                organisation_code=DEMO_ORGANISATION, person_id=person.id, role="representative"
            )
        )
        text = "GIẤY CHỨNG NHẬN ĐĂNG KÝ DOANH NGHIỆP\nMã số doanh nghiệp: 2900012347\n".encode()
        stored = files.store(text, "text/plain")
        session.add(
            EDataDocument(
                owner_person_id=person.id,
                organisation_code=DEMO_ORGANISATION,
                title="Giấy chứng nhận đăng ký doanh nghiệp",
                kind="upload",
                filename="giay-chung-nhan-dkdn.txt",
                media_type=stored.media_type,
                size=stored.size,
                sha256=stored.sha256,
                storage_key=stored.storage_key,
            )
        )
