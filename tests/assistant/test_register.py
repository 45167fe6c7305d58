"""The register of AI systems: risk levels with reasons, who may change what, the transparency page."""

from __future__ import annotations

import pytest

from tests.factories import CONGAN, SKHCN, TUPHAP
from tinhso.assistant.plugin import seed
from tinhso.assistant.register import classify_risk
from tinhso.kit.audit import AuditEntry

SYSTEMS = "/api/v1/ai/systems"


@pytest.fixture
def seeded(db):
    with db.transaction() as session:
        seed(session, False)


def spec(**over):
    base = {
        "code": "CA-NHAN-DIEN-BIEN-SO",
        "name": "Nhận dạng biển số xe vi phạm",
        "owner_agency_code": CONGAN,
        "purpose": "Đọc biển số xe từ camera để phát hiện vi phạm giao thông",
        "data_used": ["Hình ảnh camera giao thông"],
        "personal_data": "personal",
        "decision_role": "assists",
        "affected": ["citizens"],
        "human_oversight": "Cảnh sát giao thông xác minh từng trường hợp trước khi xử phạt",
        "transparency_note": "Biển báo khu vực có camera giám sát",
    }
    return base | over


@pytest.mark.parametrize(
    ("personal", "role", "affected", "prohibited", "level", "reason"),
    [
        ("none", "informs", ["officials"], [], "minimal", "informational_internal"),
        ("none", "informs", ["citizens"], [], "limited", "interacts_with_public"),
        ("personal", "assists", ["officials"], [], "limited", "personal_data"),
        ("personal", "decides", ["citizens"], [], "high", "decides_on_people"),
        ("sensitive", "informs", ["officials"], [], "high", "sensitive_personal_data"),
        ("personal", "informs", ["vulnerable"], [], "high", "vulnerable_people"),
        ("none", "informs", ["citizens"], ["social_scoring"], "unacceptable", "prohibited_practice"),
    ],
)
def test_risk_level_follows_the_criteria(personal, role, affected, prohibited, level, reason):
    got, reasons = classify_risk(personal, role, affected, prohibited)
    assert got == level
    assert reason in [r["code"] for r in reasons]
    assert all(r["vi"] and r["en"] for r in reasons)


def test_the_assistant_and_text_services_are_registered(client, seeded):
    body = client.get(SYSTEMS).json()  # public: the register is for transparency
    codes = {s["code"]: s for s in body["items"]}
    assert {"TINHSO-TRO-LY-AO", "TINHSO-XU-LY-VAN-BAN"} <= set(codes)
    assistant = codes["TINHSO-TRO-LY-AO"]
    assert assistant["risk_level"] == "limited" and assistant["owner_agency_code"] == SKHCN
    assert "interacts_with_public" in [r["code"] for r in assistant["risk_reasons"]]
    one = client.get(f"{SYSTEMS}/TINHSO-TRO-LY-AO").json()
    assert one["id"] == assistant["id"]


def test_seed_is_idempotent(db, seeded, client):
    with db.transaction() as session:
        seed(session, False)
    assert client.get(SYSTEMS).json()["total"] == 2


def test_agency_admin_registers_own_system_and_risk_is_computed(client, db, factory):
    admin = factory.person(("official", "agency_admin"), agency=CONGAN)
    resp = client.post(SYSTEMS, json=spec(decision_role="decides"), headers=admin.headers)
    assert resp.status_code == 201
    body = resp.json()
    assert body["risk_level"] == "high" and body["version"] == 1
    with db.transaction(write=False) as session:
        assert session.query(AuditEntry).filter_by(action="assistant.ai_system.create").count() == 1
    found = client.get(SYSTEMS, params={"q": "bien so", "risk_level": "high"}).json()
    assert [s["code"] for s in found["items"]] == ["CA-NHAN-DIEN-BIEN-SO"]


def test_agency_admin_cannot_register_for_another_agency(client, db, factory):
    admin = factory.person(("official", "agency_admin"), agency=TUPHAP)
    resp = client.post(SYSTEMS, json=spec(), headers=admin.headers)
    assert resp.status_code == 403 and resp.json()["code"] == "ai_system_not_yours"
    official = factory.person(("official",), agency=CONGAN)
    assert client.post(SYSTEMS, json=spec(), headers=official.headers).status_code == 403
    assert client.post(SYSTEMS, json=spec()).status_code == 401
    assert client.get(SYSTEMS).json()["total"] == 0


def test_platform_admin_manages_any_agency(client, platform_admin):
    created = client.post(SYSTEMS, json=spec(), headers=platform_admin.headers).json()
    patch = {"version": 1, "decision_role": "decides"}
    updated = client.patch(f"{SYSTEMS}/{created['id']}", json=patch, headers=platform_admin.headers)
    assert updated.status_code == 200
    assert updated.json()["risk_level"] == "high" and updated.json()["version"] == 2
    stale = client.patch(f"{SYSTEMS}/{created['id']}", json=patch, headers=platform_admin.headers)
    assert stale.status_code == 409
    assert client.delete(f"{SYSTEMS}/{created['id']}", headers=platform_admin.headers).status_code == 204
    assert client.get(f"{SYSTEMS}/{created['id']}").status_code == 404


def test_duplicate_unknown_agency_and_bad_input(client, platform_admin):
    assert client.post(SYSTEMS, json=spec(), headers=platform_admin.headers).status_code == 201
    dup = client.post(SYSTEMS, json=spec(), headers=platform_admin.headers)
    assert dup.status_code == 409 and dup.json()["code"] == "ai_system_exists"
    unknown = client.post(
        SYSTEMS, json=spec(code="X-1", owner_agency_code="999.99.99.H41"), headers=platform_admin.headers
    )
    assert unknown.status_code == 404
    for bad in (
        spec(code="có dấu"),
        spec(code="Y-1", personal_data="maybe"),
        spec(code="Y-2", affected=["aliens"]),
    ):
        assert client.post(SYSTEMS, json=bad, headers=platform_admin.headers).status_code == 422
    assert client.get(SYSTEMS).json()["total"] == 1


def test_prohibited_practice_cannot_be_active(client, platform_admin):
    resp = client.post(
        SYSTEMS,
        json=spec(code="CHAM-DIEM", prohibited_practices=["social_scoring"]),
        headers=platform_admin.headers,
    )
    assert resp.status_code == 422 and resp.json()["code"] == "ai_system_prohibited"
    planned = client.post(
        SYSTEMS,
        json=spec(code="CHAM-DIEM", prohibited_practices=["social_scoring"], status="planned"),
        headers=platform_admin.headers,
    )
    assert planned.status_code == 201 and planned.json()["risk_level"] == "unacceptable"


def test_other_agency_admin_cannot_change_or_delete(client, platform_admin, factory):
    created = client.post(SYSTEMS, json=spec(), headers=platform_admin.headers).json()
    other = factory.person(("official", "agency_admin"), agency=TUPHAP)
    assert (
        client.patch(
            f"{SYSTEMS}/{created['id']}", json={"version": 1, "name": "x"}, headers=other.headers
        ).status_code
        == 403
    )
    assert client.delete(f"{SYSTEMS}/{created['id']}", headers=other.headers).status_code == 403
    assert client.patch(f"{SYSTEMS}/nope", json={"version": 1}, headers=other.headers).status_code == 404
    assert client.get(f"{SYSTEMS}/{created['id']}").json()["name"] == spec()["name"]


def test_transparency_page_in_vietnamese_and_english(client, seeded):
    page = client.get("/minh-bach-ai")
    assert page.status_code == 200
    assert "Trợ lý ảo dịch vụ công" in page.text and "Rủi ro hạn chế" in page.text
    english = client.get("/minh-bach-ai?lang=en")
    assert "Limited risk" in english.text and "AI systems used by the province" in english.text
