"""Organisations' e-data stores: registration, authorised people, applying for the organisation, results."""

from __future__ import annotations

from sqlalchemy import func, select

from tinhso.procedures.models import EDataDocument, Organisation, OrganisationMember

from .conftest import LLTP, TUPHAP, act, lltp_form

ORG = "/api/v1/procedures/organisations"
EDATA = "/api/v1/procedures/edata"
MST = "2900012347"  # a valid enterprise code (check digit)


def _register(client, official, representative):  # noqa: ANN001, ANN202
    return client.post(
        ORG,
        json={
            "code": MST,
            "name": "Công ty TNHH Du lịch Cửa Lò",
            "address": "Phường Cửa Lò, Nghệ An",
            "representative_personal_id": representative.principal.personal_id,
        },
        headers=official.headers,
    )


def test_organisation_store_from_registration_to_result(client, factory, db):
    official = factory.person(("official",), TUPHAP)
    leader = factory.person(("leader", "official"), TUPHAP)
    boss = factory.citizen(full_name="Hồ Văn Giám Đốc")
    clerk = factory.citizen(full_name="Lê Thị Văn Thư")
    outsider = factory.citizen()
    assert _register(client, boss, boss).status_code == 403  # a citizen cannot vouch for himself
    r = _register(client, official, boss)
    assert r.status_code == 201, r.text
    assert _register(client, official, boss).status_code == 409
    assert [o["code"] for o in client.get(f"{ORG}/mine", headers=boss.headers).json()] == [MST]
    assert client.get(f"{ORG}/mine", headers=clerk.headers).json() == []
    # The representative authorises the clerk, who then works in the organisation's store.
    pid = clerk.principal.personal_id
    r = client.post(f"{ORG}/{MST}/members", json={"personal_id": pid}, headers=boss.headers)
    assert r.status_code == 201 and r.json()["role"] == "authorised"
    r = client.post(f"{ORG}/{MST}/members", json={"personal_id": pid}, headers=clerk.headers)
    assert r.status_code == 403  # only the representative authorises
    up = client.post(
        EDATA,
        data={"title": "Giấy chứng nhận ĐKDN", "organisation": MST},
        files={"file": ("dkdn.pdf", b"%PDF-1.4 giay chung nhan", "application/pdf")},
        headers=clerk.headers,
    )
    assert up.status_code == 201, up.text
    doc = up.json()
    assert doc["organisation_code"] == MST
    # Both members see it in the organisation's store; neither sees it in a personal store; outsiders never.
    for member in (boss, clerk):
        listed = client.get(EDATA, params={"organisation": MST}, headers=member.headers).json()
        assert [d["id"] for d in listed] == [doc["id"]]
        assert doc["id"] not in [d["id"] for d in client.get(EDATA, headers=member.headers).json()]
    assert client.get(EDATA, params={"organisation": MST}, headers=outsider.headers).status_code == 404
    assert client.get(f"{EDATA}/{doc['id']}/content", headers=outsider.headers).status_code == 404
    # The clerk applies for the organisation, reusing its document (not allowed in a personal dossier).
    form = lltp_form(clerk.principal.personal_id, "Lê Thị Văn Thư")
    personal = client.post(
        "/api/v1/procedures/dossiers",
        json={
            "procedure_code": LLTP,
            "form": form,
            "edata_document_ids": [doc["id"]],
            "edata_components": ["Giấy chứng nhận ĐKDN"],
        },
        headers=clerk.headers,
    )
    assert personal.status_code == 404
    body = {
        "procedure_code": LLTP,
        "form": form,
        "organisation_code": MST,
        "edata_document_ids": [doc["id"]],
        "edata_components": ["Giấy chứng nhận ĐKDN"],
    }
    assert client.post("/api/v1/procedures/dossiers", json=body, headers=outsider.headers).status_code in (
        404,
        422,
    )
    r = client.post("/api/v1/procedures/dossiers", json=body, headers=clerk.headers)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    assert r.json()["applicant_organisation_code"] == MST
    # The official reads the reused document: logged against the organisation, visible to its members.
    att = r.json()["attachments"][0]["id"]
    assert (
        client.get(
            f"/api/v1/procedures/dossiers/{code}/attachments/{att}", headers=official.headers
        ).status_code
        == 200
    )
    log = client.get(f"{EDATA}/access-log", params={"organisation": MST}, headers=boss.headers).json()
    assert any(e["action"] == "procedures.edata.read" and code in (e["purpose"] or "") for e in log)
    for action in ("assign", "start_review", "submit_for_signature"):
        assert act(client, official, code, action).status_code == 200
    assert act(client, leader, code, "sign").status_code == 200
    # The signed result lands in the organisation's store, seen by the representative too.
    docs = client.get(EDATA, params={"organisation": MST}, headers=boss.headers).json()
    result = next(d for d in docs if d["kind"] == "result")
    assert result["dossier_code"] == code
    # The store page switches between the person's own store and the organisation's.
    page = client.get("/kho-du-lieu", params={"to_chuc": MST}, headers=boss.headers)
    assert page.status_code == 200
    assert "Kho dữ liệu của Công ty TNHH Du lịch Cửa Lò" in page.text and "Giấy chứng nhận ĐKDN" in page.text
    own = client.get("/kho-du-lieu", headers=boss.headers).text
    assert "Kho dữ liệu của tôi" in own and "Giấy chứng nhận ĐKDN" not in own
    foreign = client.get("/kho-du-lieu", params={"to_chuc": MST}, headers=outsider.headers).text
    assert "Giấy chứng nhận ĐKDN" not in foreign
    # Withdrawing the clerk closes the store to her at once.
    r = client.delete(f"{ORG}/{MST}/members/{clerk.principal.id}", headers=boss.headers)
    assert r.status_code == 204
    assert client.get(EDATA, params={"organisation": MST}, headers=clerk.headers).status_code == 404
    assert client.get(f"{EDATA}/{doc['id']}/content", headers=clerk.headers).status_code == 404
    r = client.delete(f"{ORG}/{MST}/members/{boss.principal.id}", headers=boss.headers)
    assert r.status_code == 422  # the representative stays


def test_organisation_bad_input_changes_nothing(client, factory, db):
    official = factory.person(("official",), TUPHAP)
    boss = factory.citizen()
    cases = [
        {"code": "2900012348", "name": "X", "representative_personal_id": boss.principal.personal_id},
        {"code": MST, "name": "X", "representative_personal_id": "040099999999"},  # nobody holds it
        {"code": MST, "name": "", "representative_personal_id": boss.principal.personal_id},
        {"code": MST, "name": "X", "representative_personal_id": "12"},
    ]
    for body in cases:
        r = client.post(ORG, json=body, headers=official.headers)
        assert r.status_code in (404, 422), (body, r.text)
        assert r.json()["code"]
    assert client.post(ORG, json=cases[0]).status_code == 401
    up = client.post(
        EDATA,
        data={"title": "x", "organisation": MST},
        files={"file": ("a.pdf", b"%PDF-1.4 x", "application/pdf")},
        headers=boss.headers,
    )
    assert up.status_code == 404
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Organisation)) == 0
        assert s.scalar(select(func.count()).select_from(OrganisationMember)) == 0
        assert (
            s.scalar(
                select(func.count()).select_from(EDataDocument).where(EDataDocument.organisation_code == MST)
            )
            == 0
        )
