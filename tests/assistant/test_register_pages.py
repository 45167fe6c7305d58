"""AI register admin pages through a real cookie session: list, create, edit; CSRF, agency scope, bad input."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import CONGAN, TUPHAP
from tests.web.portal import csrf_of
from tinhso.assistant.models import AISystem
from tinhso.identity.auth import SESSION_COOKIE, start_web_session

BASE = "/admin/ai-register"
FORM = {
    "code": "TUPHAP-PHAN-LOAI-DON",
    "name": "Phân loại đơn thư tư pháp",
    "owner_agency_code": TUPHAP,
    "purpose": "Gợi ý phân loại đơn thư gửi Sở Tư pháp",
    "data_used": "Đơn thư của công dân\nDanh mục lĩnh vực",
    "personal_data": "personal",
    "decision_role": "assists",
    "affected": ["citizens"],
    "human_oversight": "Chuyên viên duyệt từng đề xuất",
    "transparency_note": "Công dân được biết đơn được gợi ý phân loại bằng AI",
    "status": "active",
}


def sign_in_web(client, db, person):  # noqa: ANN001, ANN201
    with db.transaction() as s:
        sid = start_web_session(s, person.principal.id).id
    client.cookies.set(SESSION_COOKIE, sid)
    return client


def count(db) -> int:  # noqa: ANN001
    with db.transaction(write=False) as s:
        return int(s.scalar(select(func.count(AISystem.id))) or 0)


def other_agency_system(client, platform_admin) -> str:  # noqa: ANN001
    body = {**FORM, "code": "CONGAN-CAMERA", "name": "Camera giao thông", "owner_agency_code": CONGAN}
    body["data_used"] = [body["data_used"]]
    resp = client.post("/api/v1/ai/systems", json=body, headers=platform_admin.headers)
    assert resp.status_code == 201, resp.json()
    return str(resp.json()["id"])


def test_agency_admin_registers_and_edits_a_system(client, db, factory, platform_admin):
    other_agency_system(client, platform_admin)
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    sign_in_web(client, db, admin)
    page = client.get(BASE)
    assert page.status_code == 200 and "Quản trị sổ đăng ký AI" in page.text
    assert "CONGAN-CAMERA" not in page.text  # another agency's system is not listed
    form = client.get(f"{BASE}/new")
    assert form.status_code == 200 and 'lang="vi"' in form.text
    done = client.post(f"{BASE}/new", data={**FORM, "csrf_token": csrf_of(form.text)}, follow_redirects=False)
    assert done.status_code == 303, done.text
    listing = client.get(BASE).text
    assert "Phân loại đơn thư tư pháp" in listing and 'data-risk="limited"' in listing
    with db.transaction(write=False) as s:
        row = s.scalar(select(AISystem).where(AISystem.code == FORM["code"]))
        assert row is not None and row.data_used == ["Đơn thư của công dân", "Danh mục lĩnh vực"]
        system_id, reasons = row.id, row.risk_reasons
    assert reasons[0]["vi"] in listing  # the reasons are shown with the level

    edit = client.get(f"{BASE}/{system_id}")
    assert edit.status_code == 200 and 'value="1"' in edit.text
    changed = client.post(
        f"{BASE}/{system_id}",
        data={
            **FORM,
            "decision_role": "informs",
            "personal_data": "none",
            "affected": ["officials"],
            "version": "1",
            "csrf_token": csrf_of(edit.text),
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303, changed.text
    with db.transaction(write=False) as s:
        row = s.get(AISystem, system_id)
        assert row is not None and row.version == 2 and row.risk_level == "minimal"
    # a stale version is refused and changes nothing
    stale = client.post(
        f"{BASE}/{system_id}", data={**FORM, "version": "1", "csrf_token": csrf_of(edit.text)}
    )
    assert stale.status_code == 409
    with db.transaction(write=False) as s:
        row = s.get(AISystem, system_id)
        assert row is not None and row.version == 2 and row.decision_role == "informs"


def test_csrf_scope_and_bad_input(client, db, factory, platform_admin):
    other_id = other_agency_system(client, platform_admin)
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    sign_in_web(client, db, admin)
    before = count(db)
    token = csrf_of(client.get(f"{BASE}/new").text)
    # without the form's token the cookie session is refused
    assert client.post(f"{BASE}/new", data=FORM).status_code == 403
    # another agency's system is not this admin's to register or edit
    other = client.post(f"{BASE}/new", data={**FORM, "owner_agency_code": CONGAN, "csrf_token": token})
    assert other.status_code == 403
    assert client.get(f"{BASE}/{other_id}").status_code == 403
    assert (
        client.post(f"{BASE}/{other_id}", data={**FORM, "version": "1", "csrf_token": token}).status_code
        == 403
    )
    assert client.get(f"{BASE}/khong-co").status_code == 404
    # bad input: the form comes back with the errors, nothing is stored
    bad = client.post(f"{BASE}/new", data={**FORM, "code": "có dấu cách", "name": "", "csrf_token": token})
    assert bad.status_code == 422 and 'role="alert"' in bad.text and "có dấu cách" in bad.text
    banned = client.post(
        f"{BASE}/new", data={**FORM, "prohibited_practices": ["social_scoring"], "csrf_token": token}
    )
    assert banned.status_code == 422 and "không được đưa vào sử dụng" in banned.text
    assert count(db) == before


def test_only_admins_see_the_pages(client, db, factory, platform_admin):
    other_agency_system(client, platform_admin)
    assert client.get(BASE).status_code == 401
    official = factory.person(("official",), agency=TUPHAP)
    sign_in_web(client, db, official)
    assert client.get(BASE).status_code == 403
    sign_in_web(client, db, platform_admin)
    page = client.get(BASE)
    assert page.status_code == 200 and "CONGAN-CAMERA" in page.text
    assert "AI register administration" in client.get(BASE, params={"lang": "en"}).text
