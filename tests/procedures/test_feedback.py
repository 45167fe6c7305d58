"""Feedback and petitions (PAKN): sending, handling deadlines, privacy, and indicators 5.1-5.3 of Decision 766."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from tinhso.kit.audit import AuditEntry
from tinhso.procedures import feedback, index766
from tinhso.procedures.calendar import TZ, WorkCalendar
from tinhso.procedures.models import Dossier, Feedback

from .conftest import LLTP, TUPHAP, lltp_form

API = "/api/v1/procedures/feedback"
OTHER = "000.00.08.H41"


def _dossier(client, citizen) -> str:  # noqa: ANN001
    r = client.post(
        "/api/v1/procedures/dossiers",
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


def _act(client, actor, code, action, note=""):  # noqa: ANN001, ANN202
    version = client.get(f"{API}/{code}", headers=actor.headers).json()["version"]
    return client.post(
        f"{API}/{code}/actions",
        json={"action": action, "version": version, "note": note},
        headers=actor.headers,
    )


def test_citizen_sends_feedback_agency_handles_publishes_and_citizen_rates(client, factory, db):
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    outsider = factory.person(("official",), OTHER)
    dossier = _dossier(client, citizen)
    r = client.post(
        API,
        json={
            "category": "delay",
            "title": "Hồ sơ chậm",
            "content": "Đã quá hẹn mà chưa có kết quả",
            "dossier_code": dossier,
        },
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    fb = r.json()
    code = fb["code"]
    assert fb["agency_code"] == TUPHAP and fb["status"] == "received" and fb["on_time"] is True
    with db.transaction() as s:
        assert s.scalar(select(Dossier.complaint).where(Dossier.code == dossier)) is True
    # The dossier's agency sees it in its queue; another agency sees neither the item nor the record.
    queue = client.get(API, headers=official.headers).json()
    assert [x["code"] for x in queue["items"]] == [code]
    assert client.get(API, headers=outsider.headers).json()["total"] == 0
    assert client.get(f"{API}/{code}", headers=outsider.headers).status_code == 404
    r = client.post(
        f"{API}/{code}/actions", json={"action": "accept", "version": 1}, headers=outsider.headers
    )
    assert r.status_code == 404
    # Handling: accept, ask for more, the citizen adds it, answer, publish.
    assert _act(client, official, code, "accept").json()["status"] == "in_progress"
    assert _act(client, official, code, "request_supplement", "Ghi rõ ngày nộp").status_code == 200
    assert _act(client, citizen, code, "supplement", "Nộp ngày 02/03").json()["status"] == "in_progress"
    assert _act(client, official, code, "answer").status_code == 422  # an answer needs its text
    r = _act(client, official, code, "answer", "Hồ sơ đã được trả kết quả ngày 05/03.")
    assert r.json()["status"] == "answered" and r.json()["answer"].startswith("Hồ sơ đã")
    assert _act(client, citizen, code, "publish").status_code == 403  # only the agency publishes
    assert _act(client, official, code, "publish").json()["status"] == "published"
    r = client.post(f"{API}/{code}/rating", json={"satisfied": False}, headers=citizen.headers)
    assert r.status_code == 200 and r.json()["satisfied"] is False
    # The published answer is public, without who asked.
    pub = client.get(f"{API}/published").json()
    item = next(x for x in pub["items"] if x["code"] == code)
    assert item["answer"].startswith("Hồ sơ đã") and "submitter_person_id" not in item
    # The official's reads are logged with their purpose against the citizen, who can see them.
    with db.transaction() as s:
        reads = list(
            s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "procedures.feedback.read", AuditEntry.object_id == code
                )
            )
        )
    assert reads and all(e.subject_id == citizen.principal.id and code in (e.purpose or "") for e in reads)
    log = client.get("/api/v1/procedures/edata/access-log", headers=citizen.headers).json()
    assert any(e["action"] == "procedures.feedback.read" for e in log)
    # A good rating of the dossier later does not hide that it drew feedback (5.4).
    with db.transaction() as s:
        d = s.scalar(select(Dossier).where(Dossier.code == dossier))
        assert d is not None
        assert feedback.has_feedback(s, d.code)


def test_feedback_bad_input_changes_nothing(client, factory, db):
    citizen = factory.citizen()
    stranger = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    dossier = _dossier(client, citizen)
    body = {"category": "fees", "title": "Phí", "content": "Thu sai phí"}
    cases = [
        ({**body, "category": "gossip", "agency_code": TUPHAP}, citizen, 422),
        (body, citizen, 422),  # neither a dossier nor an agency
        ({**body, "agency_code": "999.99.99.H99"}, citizen, 404),
        ({**body, "dossier_code": dossier}, stranger, 404),  # not the stranger's dossier
        ({**body, "title": "", "agency_code": TUPHAP}, citizen, 422),
        ({**body, "agency_code": TUPHAP}, official, 201),
    ]
    for payload, actor, status in cases:
        r = client.post(API, json=payload, headers=actor.headers)
        assert r.status_code == status, (payload, r.text)
        if status != 201:
            assert r.json()["code"] and r.json()["message"]
    assert client.post(API, json={**body, "agency_code": TUPHAP}).status_code == 401
    with db.transaction() as s:
        assert s.scalar(select(Dossier.complaint).where(Dossier.code == dossier)) is False
        assert len(list(s.scalars(select(Feedback)))) == 1
    code = client.get(API, headers=official.headers).json()["items"][0]["code"]
    # Two officials act on the same version: one wins, the other gets a clear conflict.
    version = client.get(f"{API}/{code}", headers=official.headers).json()["version"]
    first = client.post(
        f"{API}/{code}/actions", json={"action": "accept", "version": version}, headers=official.headers
    )
    second = client.post(
        f"{API}/{code}/actions",
        json={"action": "reject", "version": version, "note": "Trùng"},
        headers=official.headers,
    )
    assert first.status_code == 200 and second.status_code == 409
    assert second.json()["code"] == "feedback_changed"
    assert _act(client, official, code, "publish").status_code == 409  # not answered yet
    r = client.post(f"{API}/{code}/rating", json={"satisfied": True}, headers=official.headers)
    assert r.status_code == 422  # not handled yet, whoever asks


def _fb(received: datetime, **kw) -> Feedback:  # noqa: ANN003
    return Feedback(
        code="PAKN-X",
        agency_code=TUPHAP,
        category="other",
        title="t",
        content="c",
        status=kw.pop("status", "received"),
        received_at=received,
        **kw,
    )


def test_handling_deadlines_in_working_days():
    cal = WorkCalendar()
    monday = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # Mon 2 March 2026
    day = timedelta(days=1)
    # Refusal within 2 working days: Wednesday 17:00 is the last moment.
    assert feedback.on_time(_fb(monday, rejected_at=monday + 2 * day), cal, monday + 30 * day)
    assert not feedback.on_time(_fb(monday, rejected_at=monday + 3 * day), cal, monday + 30 * day)
    # The answer within 15 working days (three weeks: Monday 23 March, 17:00).
    answered = datetime(2026, 3, 23, 16, 0, tzinfo=TZ)
    fb = _fb(monday, answered_at=answered, published_at=answered + day, status="published")
    assert feedback.on_time(fb, cal, monday + 60 * day)
    late = _fb(monday, answered_at=answered + day, published_at=answered + 2 * day)
    assert not feedback.on_time(late, cal, monday + 60 * day)
    # Still open: judged at the moment asked.
    assert feedback.on_time(_fb(monday), cal, monday + 10 * day)
    assert not feedback.on_time(_fb(monday), cal, monday + 30 * day)
    # Waiting for the citizen stops the clock; five working days of waiting move the deadline a week.
    paused = _fb(
        monday,
        supplement_requested_at=monday + day,
        supplemented_at=monday + 8 * day,
        answered_at=answered + 5 * day,
    )
    assert feedback.on_time(paused, cal, answered + 5 * day)
    assert feedback.on_time(_fb(monday, supplement_requested_at=monday + day), cal, monday + 90 * day)
    # Asking for more only within 5 working days; publication within 2 of the answer.
    assert not feedback.on_time(_fb(monday, supplement_requested_at=monday + 8 * day), cal, monday + 9 * day)
    unpublished = _fb(monday, answered_at=monday + 3 * day, status="answered")
    assert feedback.on_time(unpublished, cal, monday + 4 * day)
    assert not feedback.on_time(unpublished, cal, monday + 10 * day)


def test_index766_feedback_indicators_and_trace(client, factory, db):
    march = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
    day = timedelta(days=1)
    rows = [
        ("PAKN-1", {"answered_at": march + 3 * day, "published_at": march + 4 * day, "satisfied": True}),
        ("PAKN-2", {"answered_at": march + 3 * day, "published_at": march + 4 * day, "satisfied": False}),
        ("PAKN-3", {"rejected_at": march + 6 * day}),  # refused too late
        ("PAKN-4", {"answered_at": march + 5 * day, "published_at": march + 6 * day}),
    ]
    with db.transaction() as s:
        for code, kw in rows:
            fb = _fb(march, **kw)
            fb.code = code
            fb.category = "delay" if code != "PAKN-4" else "fees"
            s.add(fb)
        other = _fb(march, answered_at=march + day, published_at=march + day)
        other.code, other.agency_code = "PAKN-5", OTHER
        s.add(other)
    with db.transaction() as s:
        res = index766.compute(s, "2026-03", "agency", agency=TUPHAP)[0]
    assert res["key"] == TUPHAP
    f51, f52, f53 = (res["indicators"][i] for i in ("5.1", "5.2", "5.3"))
    assert f51["numerator"] == 4 and f51["by_category"] == {"delay": 3, "fees": 1}
    assert (f52["numerator"], f52["denominator"], f52["rate"], f52["points"]) == (3, 4, 75.0, 4.5)
    # (4 − 1 disliked − 1 late) / 4
    assert (f53["numerator"], f53["rate"], f53["points"]) == (2, 50.0, 3.0)
    leader = factory.person(("leader", "official"), TUPHAP)
    r = client.get(
        "/api/v1/procedures/index766/trace",
        params={"period": "2026-03", "indicator": "5.2", "agency": TUPHAP},
        headers=leader.headers,
    )
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["late"] == ["PAKN-3"] and t["disliked"] == ["PAKN-2"] and t["denominator"] == 4
    with db.transaction() as s:
        province = index766.compute(s, "2026-03")[0]
    assert province["indicators"]["5.1"]["numerator"] == 5


def test_feedback_pages_from_dossier_to_rated_answer(client, factory, db):
    from tinhso.identity.auth import SESSION_COOKIE

    from .test_pages import web_login

    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    dossier = _dossier(client, citizen)
    sid, csrf = web_login(db, citizen.principal)
    client.cookies.set(SESSION_COOKIE, sid)
    assert f"/phan-anh?ho_so={dossier}" in client.get(f"/ho-so/{dossier}").text
    page = client.get("/phan-anh", params={"ho_so": dossier})
    assert page.status_code == 200 and dossier in page.text and "Gửi phản ánh, kiến nghị" in page.text
    form = {"csrf_token": csrf, "category": "delay", "title": "Chậm trả", "content": "Chưa có kết quả"}
    r = client.post("/phan-anh", data=form | {"dossier_code": dossier}, follow_redirects=False)
    assert r.status_code == 303, r.text
    code = r.headers["location"].rsplit("/", 1)[1]
    bad = client.post(
        "/phan-anh", data=form | {"category": "x", "agency_code": TUPHAP}, follow_redirects=False
    )
    assert bad.status_code == 303 and "error=" in bad.headers["location"]
    assert 'data-status="received"' in client.get(f"/phan-anh/{code}").text
    assert f"/phan-anh/{code}" in client.get("/phan-anh").text  # listed among the citizen's own
    # The official handles it from the queue page.
    osid, ocsrf = web_login(db, official.principal)
    client.cookies.set(SESSION_COOKIE, osid)
    assert code in client.get("/can-bo/phan-anh").text
    for action, note in (("accept", ""), ("answer", "Đã trả kết quả."), ("publish", "")):
        version = client.get(f"{API}/{code}", headers=official.headers).json()["version"]
        data = {"csrf_token": ocsrf, "action": action, "version": str(version), "note": note}
        r = client.post(f"/phan-anh/{code}/thao-tac", data=data, follow_redirects=False)
        assert r.status_code == 303 and "error" not in r.headers["location"], r.headers["location"]
    stale = {"csrf_token": ocsrf, "action": "publish", "version": "1", "note": ""}
    r = client.post(f"/phan-anh/{code}/thao-tac", data=stale, follow_redirects=False)
    assert "error=" in r.headers["location"]
    # Back as the citizen: the answer is there, and the citizen says it did not satisfy.
    client.cookies.set(SESSION_COOKIE, sid)
    page = client.get(f"/phan-anh/{code}").text
    assert 'data-status="published"' in page and "Đã trả kết quả." in page
    r = client.post(
        f"/phan-anh/{code}/danh-gia", data={"csrf_token": csrf, "satisfied": "no"}, follow_redirects=False
    )
    assert r.status_code == 303
    assert client.get(f"{API}/{code}", headers=citizen.headers).json()["satisfied"] is False
    public = client.get("/phan-anh", params={"lang": "en"}).text
    assert "Published answers" in public and "Đã trả kết quả." in public
