"""Administration pages over HTTP: who may enter, forms with csrf_token, refusals that change nothing."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from tests.factories import CONGAN, SKHCN, TUPHAP
from tests.web.portal import csrf_of, sign_in
from tinhso.identity.models import Agency, ClientCredential, InformationSystem, Person
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import utcnow
from tinhso.kit.i18n import gettext


def people_count(db) -> int:  # noqa: ANN001
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(Person))


@pytest.fixture
def agency_admin(client, factory):  # noqa: ANN001, ANN201
    actor = factory.person(("agency_admin", "official"), agency=TUPHAP, username="tuphap.quantri")
    sign_in(client, actor.username)
    return actor


def test_anonymous_is_sent_to_sign_in_and_officials_are_refused(client, factory) -> None:  # noqa: ANN001
    for path in ("/admin", "/admin/people", "/admin/systems", "/admin/audit", "/admin/roles"):
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin?next=")
    official = factory.person(("official",), username="chi.canbo")
    sign_in(client, official.username)
    assert client.get("/admin/people").status_code == 403
    assert "Quản trị" not in client.get("/").text.split("<main")[0]  # no admin link in the nav


def test_agency_admin_creates_a_person_in_its_agency(client, db, agency_admin) -> None:  # noqa: ANN001
    form = client.get("/admin/people/new")
    assert form.status_code == 200 and 'for="f-username"' in form.text
    created = client.post(
        "/admin/people/new",
        data={
            "csrf_token": csrf_of(form.text),
            "username": "nguoi.moi",
            "full_name": "Nguyễn Thị Mới",
            "email": "moi@nghean.gov.vn",
            "agency_code": CONGAN,  # ignored: an agency admin creates people in its own agency
            "password": "mat-khau-ban-dau-1",
            "roles": ["official"],
        },
        follow_redirects=False,
    )
    assert created.status_code == 303
    page = client.get(created.headers["location"])
    assert "Đã tạo người dùng." in page.text and "Nguyễn Thị Mới" in page.text
    with db.transaction(write=False) as s:
        person = s.scalar(select(Person).where(Person.username == "nguoi.moi"))
        assert person.agency_code == TUPHAP
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "identity.person.create")).one()
        assert entry.actor_id == agency_admin.id
    listing = client.get("/admin/people", params={"q": "nguoi.moi"})
    assert "nguoi.moi" in listing.text


def test_bad_person_forms_change_nothing(client, db, agency_admin) -> None:  # noqa: ANN001
    token = csrf_of(client.get("/admin/people/new").text)
    before = people_count(db)
    invalid = client.post(
        "/admin/people/new",
        data={
            "csrf_token": token,
            "username": "A B",
            "full_name": "X",
            "password": "short",
            "roles": ["official"],
        },
    )
    assert invalid.status_code == 422 and 'aria-invalid="true"' in invalid.text
    assert "Vui lòng kiểm tra các trường được đánh dấu." in invalid.text
    not_grantable = client.post(
        "/admin/people/new",
        data={
            "csrf_token": token,
            "username": "muon.lam.admin",
            "full_name": "Muốn Làm Quản Trị",
            "password": "mat-khau-ban-dau-1",
            "roles": ["platform_admin"],
        },
    )
    assert not_grantable.status_code == 403
    assert (
        html.escape(gettext("Only a platform administrator may grant this role", "vi")) in not_grantable.text
    )
    no_csrf = client.post(
        "/admin/people/new",
        data={"username": "khong.csrf", "full_name": "Không CSRF", "password": "mat-khau-ban-dau-1"},
    )
    assert no_csrf.status_code == 403 and no_csrf.json()["code"] == "csrf_failed"
    assert people_count(db) == before


def test_edit_roles_and_unlock(client, db, factory, agency_admin) -> None:  # noqa: ANN001
    target = factory.person(("official",), agency=TUPHAP, username="bi.khoa")
    with db.transaction() as s:
        s.execute(
            update(Person).where(Person.id == target.id).values(locked_until=utcnow().replace(year=2099))
        )
    page = client.get(f"/admin/people/{target.id}")
    assert "Mở khóa" in page.text
    token = csrf_of(page.text)
    unlocked = client.post(f"/admin/people/{target.id}/unlock", data={"csrf_token": token})
    assert unlocked.status_code == 200 and "Đã mở khóa tài khoản." in unlocked.text
    saved = client.post(
        f"/admin/people/{target.id}",
        data={
            "csrf_token": token,
            "full_name": "Bị Khóa Cũ",
            "active": "on",
            "roles": ["official", "agency_admin"],
        },
    )
    assert saved.status_code == 200 and "Đã lưu." in saved.text
    with db.transaction(write=False) as s:
        person = s.get(Person, target.id)
        assert person.locked_until is None and person.full_name == "Bị Khóa Cũ"
    # Another agency's person is not even visible.
    stranger = factory.person(("official",), agency=CONGAN)
    assert client.get(f"/admin/people/{stranger.id}").status_code == 404
    assert client.post(f"/admin/people/{stranger.id}/unlock", data={"csrf_token": token}).status_code == 404


def test_agencies_search_and_edit(client, db, agency_admin) -> None:  # noqa: ANN001
    found = client.get("/admin/agencies", params={"q": "tu phap"})
    assert TUPHAP in found.text
    page = client.get(f"/admin/agencies/{TUPHAP}")
    token = csrf_of(page.text)
    saved = client.post(
        f"/admin/agencies/{TUPHAP}",
        data={"csrf_token": token, "name": "Sở Tư pháp tỉnh Nghệ An", "short_name": "STP", "active": "on"},
    )
    assert saved.status_code == 200 and "Đã lưu." in saved.text
    with db.transaction(write=False) as s:
        old_name = s.get(Agency, SKHCN).name
    # Another agency: shown read-only, and a forged post is refused without changing it.
    assert 'name="csrf_token"' not in client.get(f"/admin/agencies/{SKHCN}").text.split("<main")[1]
    refused = client.post(f"/admin/agencies/{SKHCN}", data={"csrf_token": token, "name": "Đổi tên trộm"})
    assert refused.status_code == 403
    with db.transaction(write=False) as s:
        assert s.get(Agency, SKHCN).name == old_name
        s.execute(update(Agency).where(Agency.code == TUPHAP).values(name="Sở Tư pháp", short_name=None))
        s.commit()


def test_systems_credentials_secret_shown_once(client, db, agency_admin) -> None:  # noqa: ANN001
    form = client.get("/admin/systems/new")
    token = csrf_of(form.text)
    created = client.post(
        "/admin/systems/new",
        data={"csrf_token": token, "code": "QLVB", "name": "Quản lý văn bản"},
        follow_redirects=False,
    )
    assert created.status_code == 303
    system_url = created.headers["location"]
    issued = client.post(system_url + "/credentials", data={"csrf_token": token, "scopes": "api"})
    assert issued.status_code == 201 and issued.headers["cache-control"] == "no-store"
    client_id = re.search(r"data-client-id>([^<]+)<", issued.text).group(1)
    secret = re.search(r"data-client-secret>([^<]+)<", issued.text).group(1)
    ok = client.post("/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    assert ok.status_code == 200
    again = client.get(system_url)
    assert client_id in again.text and secret not in again.text
    with db.transaction(write=False) as s:
        cred = s.scalar(select(ClientCredential).where(ClientCredential.client_id == client_id))
        assert cred.secret_hash != secret
    rotated = client.post(f"{system_url}/credentials/{cred.id}/rotate", data={"csrf_token": token})
    assert rotated.status_code == 201
    assert (
        client.post(
            "/auth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        ).status_code
        == 401
    )
    new_id = re.search(r"data-client-id>([^<]+)<", rotated.text).group(1)
    with db.transaction(write=False) as s:
        new = s.scalar(select(ClientCredential).where(ClientCredential.client_id == new_id))
    revoked = client.post(
        f"{system_url}/credentials/{new.id}/revoke", data={"csrf_token": token}, follow_redirects=False
    )
    assert revoked.status_code == 303
    with db.transaction(write=False) as s:
        assert s.get(ClientCredential, new.id).revoked_at is not None
        assert (
            s.scalar(
                select(func.count()).select_from(InformationSystem).where(InformationSystem.code == "QLVB")
            )
            == 1
        )
    # A duplicate code is refused and creates nothing.
    dup = client.post("/admin/systems/new", data={"csrf_token": token, "code": "QLVB", "name": "Trùng"})
    assert dup.status_code == 409


def test_roles_page(client, agency_admin) -> None:  # noqa: ANN001
    page = client.get("/admin/roles")
    assert page.status_code == 200
    for name in ("Công dân", "Cán bộ, công chức", "Quản trị cơ quan", "Lãnh đạo", "Quản trị nền tảng"):
        assert name in page.text


def test_audit_log_filter_and_verify(client, db, factory) -> None:  # noqa: ANN001
    admin = factory.person(("platform_admin",), agency=SKHCN, username="kiem.toan")
    sign_in(client, admin.username)
    page = client.get("/admin/audit", params={"action": "auth."})
    assert page.status_code == 200 and "auth.sign_in" in page.text and "auth.session.start" in page.text
    assert "identity.person" not in page.text
    today = utcnow().astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()
    same_day = client.get("/admin/audit", params={"since": today.isoformat(), "until": today.isoformat()})
    assert "auth.sign_in" in same_day.text
    before = client.get("/admin/audit", params={"until": (today - timedelta(days=1)).isoformat()})
    assert "auth.sign_in" not in before.text
    token = csrf_of(page.text)
    verified = client.post("/admin/audit/verify", data={"csrf_token": token})
    assert 'data-verify="ok"' in verified.text
    with db.transaction() as s:
        s.execute(update(AuditEntry).where(AuditEntry.seq == 1).values(object_id="altered"))
    broken = client.post("/admin/audit/verify", data={"csrf_token": token})
    assert 'data-verify="broken"' in broken.text and "nội dung không khớp với mã băm của nó" in broken.text


def test_agency_admin_may_not_verify_the_chain(client, agency_admin) -> None:  # noqa: ANN001
    page = client.get("/admin/audit")
    assert page.status_code == 200 and "/admin/audit/verify" not in page.text
    assert client.post("/admin/audit/verify", data={"csrf_token": csrf_of(page.text)}).status_code == 403
