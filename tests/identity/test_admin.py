"""Administering agencies, people, systems and grants: each agency sees and manages only its own."""

from sqlalchemy import func, select

from tests.factories import CONGAN, SKHCN, TUPHAP
from tinhso.identity.models import DataGrant, InformationSystem, Person
from tinhso.identity.repository import readable_agencies
from tinhso.kit.db import utcnow


def _people(db):
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Person))


def test_agency_admin_creates_an_official_in_own_agency(client, factory):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    resp = client.post(
        "/api/v1/people",
        headers=admin.headers,
        json={
            "username": "nguyen.van.a",
            "full_name": "  Nguyễn  Văn A",
            "password": "mat-khau-du-dai-1",
            "roles": ["official"],
        },
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["agency_code"] == TUPHAP and body["roles"] == ["official"]
    listed = client.get("/api/v1/people", headers=admin.headers, params={"q": "nguyen.van"}).json()
    assert [p["username"] for p in listed["items"]] == ["nguyen.van.a"]


def test_agency_admin_cannot_create_people_in_another_agency_and_nothing_changes(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    before = _people(db)
    resp = client.post(
        "/api/v1/people",
        headers=admin.headers,
        json={
            "username": "xam.nhap",
            "full_name": "Xâm Nhập",
            "password": "mat-khau-du-dai-1",
            "agency_code": CONGAN,
        },
    )
    assert resp.status_code == 403 and resp.json()["code"] == "not_agency_admin"
    assert _people(db) == before


def test_agency_admin_cannot_grant_platform_admin(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    before = _people(db)
    resp = client.post(
        "/api/v1/people",
        headers=admin.headers,
        json={
            "username": "leo.thang",
            "full_name": "Leo Thang",
            "password": "mat-khau-du-dai-1",
            "roles": ["platform_admin"],
        },
    )
    assert resp.status_code == 403 and resp.json()["code"] == "role_not_grantable"
    assert _people(db) == before


def test_people_lists_are_scoped_to_the_agency(client, factory):
    factory.person(agency=TUPHAP, username="o.tuphap")
    factory.person(agency=CONGAN, username="o.congan")
    admin = factory.person(("agency_admin",), agency=CONGAN)
    names = {p["username"] for p in client.get("/api/v1/people", headers=admin.headers).json()["items"]}
    assert "o.congan" in names and "o.tuphap" not in names


def test_official_of_another_agency_cannot_read_a_person(client, factory):
    target = factory.person(agency=TUPHAP)
    admin_b = factory.person(("agency_admin",), agency=CONGAN)
    resp = client.get(f"/api/v1/people/{target.id}", headers=admin_b.headers)
    assert resp.status_code == 404 and resp.json()["code"] == "person_not_found"


def test_plain_official_cannot_list_people(client, factory):
    official = factory.person(("official",))
    resp = client.get("/api/v1/people", headers=official.headers)
    assert resp.status_code == 403 and resp.json()["code"] == "role_required"


def test_duplicate_username_is_a_conflict(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    data = {"username": "trung.ten", "full_name": "Trùng Tên", "password": "mat-khau-du-dai-1"}
    assert client.post("/api/v1/people", headers=admin.headers, json=data).status_code == 201
    before = _people(db)
    resp = client.post("/api/v1/people", headers=admin.headers, json=data)
    assert resp.status_code == 409 and resp.json()["code"] == "username_taken"
    assert _people(db) == before


def test_malformed_person_is_a_validation_error(client, factory):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    resp = client.post(
        "/api/v1/people",
        headers=admin.headers,
        json={"username": "A B", "full_name": "x", "password": "short", "personal_id": "12"},
    )
    assert resp.status_code == 422
    fields = {e["loc"][-1] for e in resp.json()["errors"]}
    assert {"username", "full_name", "password", "personal_id"} <= fields


def test_unlock_a_locked_person(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    person = factory.person(agency=TUPHAP)
    with db.transaction() as s:
        s.get(Person, person.id).locked_until = utcnow().replace(year=2100)
    assert client.get(f"/api/v1/people/{person.id}", headers=admin.headers).json()["locked"] is True
    resp = client.patch(f"/api/v1/people/{person.id}", headers=admin.headers, json={"unlock": True})
    assert resp.status_code == 200 and resp.json()["locked"] is False


def test_systems_are_created_and_listed_per_agency(client, factory):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    resp = client.post(
        "/api/v1/systems", headers=admin.headers, json={"code": "HOTICH", "name": "CSDL hộ tịch"}
    )
    assert resp.status_code == 201 and resp.json()["agency_code"] == TUPHAP
    other = factory.person(("agency_admin",), agency=CONGAN)
    assert client.get("/api/v1/systems", headers=other.headers).json()["total"] == 0
    assert client.get(f"/api/v1/systems/{resp.json()['id']}", headers=other.headers).status_code == 404
    dup = client.post("/api/v1/systems", headers=admin.headers, json={"code": "HOTICH", "name": "Lặp"})
    assert dup.status_code == 409


def test_issued_secret_is_shown_once_and_only_its_hash_is_stored(client, factory, db):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    sid = client.post("/api/v1/systems", headers=admin.headers, json={"code": "HT2", "name": "HT2"}).json()[
        "id"
    ]
    issued = client.post(
        f"/api/v1/systems/{sid}/credentials", headers=admin.headers, json={"scopes": ["api"]}
    )
    assert issued.status_code == 201
    secret = issued.json()["client_secret"]
    with db.transaction() as s:
        system = s.get(InformationSystem, sid)
        assert system is not None
        from tinhso.identity.models import ClientCredential

        stored = s.scalar(select(ClientCredential.secret_hash).where(ClientCredential.system_id == sid))
    assert stored != secret and secret not in stored


def test_agency_creation_needs_platform_admin(client, factory, platform_admin):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    data = {
        "code": "000.00.99.H41",
        "name": "Ban Thử nghiệm",
        "kind": "department",
        "parent_code": "000.00.00.H41",
    }
    assert client.post("/api/v1/agencies", headers=admin.headers, json=data).status_code == 403
    assert client.get("/api/v1/agencies/000.00.99.H41").status_code == 404
    created = client.post("/api/v1/agencies", headers=platform_admin.headers, json=data)
    assert created.status_code == 201
    assert client.get("/api/v1/agencies", params={"q": "ban thu nghiem"}).json()["total"] == 1


def test_grants_widen_what_an_agency_reads_until_revoked(client, factory, db):
    owner_admin = factory.person(("agency_admin",), agency=TUPHAP)
    reader = factory.person(("official",), agency=CONGAN)
    with db.transaction() as s:
        assert readable_agencies(s, reader.principal, "procedures.dossier", utcnow()) == {CONGAN}
    resp = client.post(
        "/api/v1/grants",
        headers=owner_admin.headers,
        json={
            "grantee_agency_code": CONGAN,
            "resource": "procedures.dossier",
            "purpose": "Xác minh nhân thân",
        },
    )
    assert resp.status_code == 201
    with db.transaction() as s:
        assert readable_agencies(s, reader.principal, "procedures.dossier", utcnow()) == {CONGAN, TUPHAP}
        assert readable_agencies(s, reader.principal, "data.registry", utcnow()) == {CONGAN}
    client.post(f"/api/v1/grants/{resp.json()['id']}/revoke", headers=owner_admin.headers)
    with db.transaction() as s:
        assert readable_agencies(s, reader.principal, "procedures.dossier", utcnow()) == {CONGAN}
        assert s.scalar(select(func.count()).select_from(DataGrant)) == 1


def test_platform_admin_reads_every_agency(db, platform_admin):
    with db.transaction() as s:
        assert readable_agencies(s, platform_admin.principal, "anything", utcnow()) is None
    assert platform_admin.principal.agency_code == SKHCN


def test_reading_someone_elses_record_is_audited_and_visible_to_them(client, factory):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    person = factory.person(agency=TUPHAP)
    assert client.get(f"/api/v1/people/{person.id}", headers=admin.headers).status_code == 200
    assert client.get(f"/api/v1/people/{person.id}", headers=person.headers).status_code == 200
    usage = client.get("/api/v1/me/data-usage", headers=person.headers).json()
    assert usage["total"] == 1
    assert usage["items"][0]["actor_id"] == admin.id and usage["items"][0]["purpose"]


def test_people_search_ignores_diacritics_and_case(client, factory):
    admin = factory.person(("agency_admin",), agency=TUPHAP)
    factory.person(agency=TUPHAP, username="nhung.nth", full_name="Nguyễn Thị Hồng Nhung")
    factory.person(agency=TUPHAP, username="an.lv", full_name="Lê Văn An")
    for q in ("hong nhung", "Hồng Nhung", "NGUYEN THI"):
        found = client.get("/api/v1/people", headers=admin.headers, params={"q": q}).json()
        assert [p["username"] for p in found["items"]] == ["nhung.nth"], q
