"""Dossiers: reception anywhere, routing, codes, the state machine, concurrency, attachments, deadlines."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

from sqlalchemy import func, select

from tinhso.identity.principal import Principal
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import utcnow
from tinhso.kit.events import OutboxEvent
from tinhso.procedures import dossiers
from tinhso.procedures.models import Dossier, DossierHistory, EDataDocument, Procedure

from .conftest import COMMUNE1, KHAISINH, LLTP, TUPHAP, act, khaisinh_form, lltp_form

CODE_RE = re.compile(r"^\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}-\d{6}-\d{4}$")
API = "/api/v1/procedures/dossiers"


def test_full_online_dossier_from_application_to_rated_result(client, factory, db):
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    leader = factory.person(("leader", "official"), TUPHAP)
    r = client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    d = r.json()
    code = d["code"]
    assert CODE_RE.match(code) and code.startswith(TUPHAP + "-")
    assert d["status"] == "received" and d["channel"] == 2 and d["fee_total"] == 200000
    assert d["agency_code"] == TUPHAP
    for action in ("assign", "start_review"):
        assert act(client, official, code, action).status_code == 200
    r = act(client, official, code, "request_supplement", "Bổ sung bản sao CCCD")
    assert r.json()["status"] == "supplement_requested"
    due_before = r.json()["due_at"]
    assert act(client, citizen, code, "supplement").json()["status"] == "in_review"
    assert r.json()["due_at"] <= client.get(f"{API}/{code}", headers=official.headers).json()["due_at"]
    assert act(client, official, code, "submit_for_signature").status_code == 200
    assert act(client, official, code, "sign").status_code == 403  # the signer is a leader
    r = act(client, leader, code, "sign")
    assert r.status_code == 200 and r.json()["status"] == "result_ready"
    assert r.json()["result_code"] == f"KQ-{code}"
    assert act(client, official, code, "return_result").json()["status"] == "returned"
    r = client.post(f"{API}/{code}/rating", json={"rating": 5}, headers=citizen.headers)
    assert r.status_code == 200 and r.json()["rating"] == 5
    # The result is in the citizen's e-data store, signed, and verifiable by its QR token.
    docs = client.get("/api/v1/procedures/edata", headers=citizen.headers).json()
    result = next(x for x in docs if x["kind"] == "result")
    v = client.get(f"/api/v1/procedures/verify/{result['verify_token']}").json()
    assert v["valid"] is True and v["dossier_code"] == code
    assert "applicant" not in str(v).lower()
    with db.transaction() as s:
        topics = set(s.scalars(select(OutboxEvent.topic).where(OutboxEvent.key == code)))
        history = s.scalar(select(func.count()).select_from(DossierHistory)) or 0
        doc = s.scalar(select(EDataDocument).where(EDataDocument.dossier_code == code))
        assert doc is not None
        from tinhso.procedures import files

        tampered = files.read(doc.storage_key) + b"x"
        from tinhso.procedures import signing

        assert not signing.verify(tampered, doc.signature_b64 or "", doc.certificate_pem or "")
    assert {
        "procedures.dossier.received",
        "procedures.dossier.sign",
        "procedures.dossier.return_result",
    } <= topics
    assert history == 8
    assert due_before


def test_event_payload_contract(client, factory, db):
    citizen = factory.citizen()
    client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    )
    with db.transaction() as s:
        ev = s.scalar(select(OutboxEvent).where(OutboxEvent.topic == "procedures.dossier.received"))
        assert ev is not None
        assert set(ev.payload) == {
            "code",
            "procedure_code",
            "agency_code",
            "commune_code",
            "status",
            "channel",
            "received_at",
            "due_at",
            "finished_at",
        }


def test_any_commune_receives_any_procedure_and_routes_it(client, factory):
    clerk = factory.person(("official",), COMMUNE1)
    citizen_id = "040190009999"
    # A province-level procedure received at a commune goes to Sở Tư pháp; the code names the receiving unit.
    r = client.post(
        API, json={"procedure_code": LLTP, "form": lltp_form(citizen_id), "channel": 1}, headers=clerk.headers
    )
    assert r.status_code == 201, r.text
    assert r.json()["agency_code"] == TUPHAP and r.json()["code"].startswith(COMMUNE1 + "-")
    assert r.json()["receiving_agency_code"] == COMMUNE1
    # A commune procedure for another commune goes to that commune's UBND.
    other = client.get("/api/v1/communes", params={"page_size": 3}).json()["items"][2]["code"]
    r = client.post(
        API,
        json={
            "procedure_code": KHAISINH,
            "form": khaisinh_form(citizen_id),
            "channel": 1,
            "commune_code": other,
        },
        headers=clerk.headers,
    )
    assert r.status_code == 201
    assert r.json()["agency_code"] == "003.00.00.H41" and r.json()["commune_code"] == other
    # Without a commune, the commune clerk's own commune settles it.
    r = client.post(
        API,
        json={"procedure_code": KHAISINH, "form": khaisinh_form(citizen_id), "channel": 1},
        headers=clerk.headers,
    )
    assert r.json()["agency_code"] == COMMUNE1
    seqs = sorted(int(c.rsplit("-", 1)[1]) for c in [r.json()["code"]])
    assert seqs[0] == 3
    # The commune clerk sees the dossier it received but cannot process Sở Tư pháp's.
    tuphap_code = client.get(API, headers=clerk.headers, params={"mine": False}).json()
    assert tuphap_code["total"] >= 1


def test_bad_applications_change_nothing(client, factory, db, platform_admin):
    citizen = factory.citizen()
    pid = citizen.principal.personal_id
    r = client.post(API, json={"procedure_code": "9.999999", "form": lltp_form(pid)}, headers=citizen.headers)
    assert r.status_code == 404 and r.json()["code"] == "procedure_not_found"
    bad = lltp_form(pid) | {"personal_id": "12ab"}
    r = client.post(API, json={"procedure_code": LLTP, "form": bad}, headers=citizen.headers)
    assert r.status_code == 422 and r.json()["code"] == "form_invalid"
    r = client.post(
        API, json={"procedure_code": LLTP, "form": lltp_form(pid) | {"hack": 1}}, headers=citizen.headers
    )
    assert r.status_code == 422
    r = client.post(
        API, json={"procedure_code": LLTP, "form": lltp_form("040190000000")}, headers=citizen.headers
    )
    assert r.status_code == 422 and r.json()["code"] == "applicant_mismatch"
    with db.transaction() as s:
        s.get(Procedure, LLTP).status = "closed"  # type: ignore[union-attr]
    r = client.post(API, json={"procedure_code": LLTP, "form": lltp_form(pid)}, headers=citizen.headers)
    assert r.status_code == 409 and r.json()["code"] == "procedure_closed"
    with db.transaction() as s:
        s.get(Procedure, LLTP).status = "published"  # type: ignore[union-attr]
        assert s.scalar(select(func.count()).select_from(Dossier)) == 0
    assert client.post(API, json={"procedure_code": LLTP, "form": lltp_form(pid)}).status_code == 401
    # A citizen cannot receive in person.
    r = client.post(
        API, json={"procedure_code": LLTP, "form": lltp_form(pid), "channel": 1}, headers=citizen.headers
    )
    assert r.status_code == 403


def test_transitions_refused_by_state_role_and_agency(client, factory):
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    stranger = factory.person(("official",), "000.00.08.H41")
    code = client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    ).json()["code"]
    r = act(client, official, code, "sign")
    assert r.status_code == 403
    r = act(client, official, code, "return_result")
    assert r.status_code == 409 and r.json()["code"] == "transition_not_allowed"
    assert act(client, citizen, code, "assign").status_code == 403
    assert client.get(f"{API}/{code}", headers=stranger.headers).status_code == 404
    assert act(client, official, code, "refuse").status_code == 422  # a reason is required
    assert act(client, official, code, "fly").status_code == 422
    assert client.get(f"{API}/000.00.05.H41-990101-0001", headers=official.headers).status_code == 404
    r = act(client, citizen, code, "withdraw")
    assert r.status_code == 200 and r.json()["status"] == "withdrawn" and r.json()["finished_at"]


def test_two_officials_at_once_one_wins_the_other_gets_409(client, factory, db):
    citizen = factory.citizen()
    a = factory.person(("official",), TUPHAP)
    b = factory.person(("official",), TUPHAP)
    code = client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    ).json()["code"]
    version = client.get(f"{API}/{code}", headers=a.headers).json()["version"]
    body = {"action": "assign", "version": version}
    results: list[int] = []

    def go(actor) -> None:  # noqa: ANN001
        results.append(client.post(f"{API}/{code}/transitions", json=body, headers=actor.headers).status_code)

    threads = [threading.Thread(target=go, args=(x,)) for x in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 409]
    r = client.post(f"{API}/{code}/transitions", json=body, headers=b.headers)
    assert r.status_code == 409 and r.json()["code"] == "dossier_changed"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(DossierHistory)) == 2


def test_codes_are_unique_under_concurrent_reception(db):
    def principal() -> Principal:
        return Principal(
            kind="person", id="x" * 32, name="Cán bộ", agency_code=TUPHAP, roles=frozenset({"official"})
        )

    codes: list[str] = []
    errors: list[Exception] = []

    def receive() -> None:
        try:
            for _ in range(5):
                with db.transaction() as s:
                    proc = s.get(Procedure, LLTP)
                    assert proc is not None
                    d = dossiers.receive(
                        s,
                        principal(),
                        proc,
                        lltp_form("040190001111"),
                        channel=1,
                        commune_code=None,
                        applicant_person_id=None,
                    )
                    codes.append(d.code)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=receive) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(codes) == 20 and len(set(codes)) == 20
    assert sorted(int(c.rsplit("-", 1)[1]) for c in codes) == list(range(1, 21))


def test_attachments_checked_and_checksummed(client, factory):
    citizen = factory.citizen()
    code = client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    ).json()["code"]
    pdf = b"%PDF-1.7\n" + b"0" * 1000
    r = client.post(
        f"{API}/{code}/attachments",
        data={"component": "Tờ khai"},
        files={"file": ("to-khai.pdf", pdf, "application/pdf")},
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    import hashlib

    assert r.json()["sha256"] == hashlib.sha256(pdf).hexdigest()
    r = client.post(
        f"{API}/{code}/attachments",
        data={"component": "Ảnh"},
        files={"file": ("anh.png", pdf, "image/png")},
        headers=citizen.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "attachment_type_mismatch"
    r = client.post(
        f"{API}/{code}/attachments",
        data={"component": "Exe"},
        files={"file": ("x.exe", b"MZ\x90\x00\x03", "application/pdf")},
        headers=citizen.headers,
    )
    assert r.status_code == 422 and r.json()["code"] == "attachment_type_not_allowed"
    big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    r = client.post(
        f"{API}/{code}/attachments",
        data={"component": "To"},
        files={"file": ("big.pdf", big, "application/pdf")},
        headers=citizen.headers,
    )
    assert r.status_code == 413
    detail = client.get(f"{API}/{code}", headers=citizen.headers).json()
    assert len(detail["attachments"]) == 1


def test_sweep_warns_and_marks_overdue_with_apology(client, factory, db, platform_admin):
    citizen = factory.citizen()
    code = client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    ).json()["code"]
    with db.transaction() as s:
        d = s.scalar(select(Dossier).where(Dossier.code == code))
        assert d is not None
        d.due_at = utcnow() - timedelta(hours=1)
    r = client.post("/api/v1/procedures/sweep", headers=platform_admin.headers)
    assert r.json()["overdue"] == 1
    assert client.post("/api/v1/procedures/sweep", headers=platform_admin.headers).json()["overdue"] == 0
    detail = client.get(f"{API}/{code}", headers=platform_admin.headers).json()
    assert detail["overdue"] is True and "THƯ XIN LỖI" in detail["apology_text"]
    assert client.post("/api/v1/procedures/sweep", headers=citizen.headers).status_code == 403


def test_official_reads_are_audited_with_purpose(client, factory, db):
    citizen = factory.citizen()
    official = factory.person(("official",), TUPHAP)
    code = client.post(
        API,
        json={"procedure_code": LLTP, "form": lltp_form(citizen.principal.personal_id)},
        headers=citizen.headers,
    ).json()["code"]
    client.get(f"{API}/{code}", headers=official.headers)
    with db.transaction() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "procedures.dossier.read"))
        assert e is not None and e.subject_id == citizen.id and code in (e.purpose or "")
