"""Write actions: API tokens (CKAN header styles and bearer JWTs), permissions, validation, uploads, audit."""

from __future__ import annotations

import io

from sqlalchemy import func, select

from tests.opendata.conftest import NNMT, THONG_KE, TK_ORG, action
from tinhso.kit.audit import AuditEntry
from tinhso.opendata.models import ApiToken, Dataset


def issue_token(client, actor, name="ckanapi") -> str:
    r = client.post("/api/v1/opendata/tokens", json={"name": name}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def count(db, model=Dataset) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def audited(db, name: str) -> int:
    with db.transaction(write=False) as s:
        return s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == name)) or 0


NEW = {
    "name": "doanh-nghiep-moi",
    "title": "Doanh nghiệp thành lập mới",
    "notes": "Số doanh nghiệp thành lập mới theo tháng trên địa bàn tỉnh.",
    "owner_org": TK_ORG,
    "license_id": "cc-zero",
    "tags": [{"name": "doanh nghiệp"}],
    "groups": [{"name": "kinh-te"}],
    "extras": [{"key": "source", "value": "Sở Tài chính"}, {"key": "frequency", "value": "MONTHLY"}],
}


def test_token_styles_create_datasets(client, db, catalog, publisher):
    token = issue_token(client, publisher)
    audited_before = audited(db, "opendata.dataset.create")
    with db.transaction(write=False) as s:
        stored = s.scalars(select(ApiToken.token_hash)).all()
    assert token not in stored and len(stored) == 1  # stored hashed
    for i, headers in enumerate(({"Authorization": token}, {"X-CKAN-API-Key": token}, publisher.headers)):
        r = action(client, "package_create", {**NEW, "name": f"doanh-nghiep-moi-{i}"}, headers=headers)
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert result["organization"]["name"] == TK_ORG and result["license_id"] == "CC0-1.0"
        assert result["frequency"] == "MONTHLY" and result["extras"] == [
            {"key": "source", "value": "Sở Tài chính"}
        ]
    assert audited(db, "opendata.dataset.create") == audited_before + 3


def test_refused_writes_change_nothing(client, db, catalog, publisher, other_publisher, factory):
    before = count(db)
    citizen = factory.citizen()
    cases = [
        ({}, 403, "Authorization Error"),
        ({"Authorization": "tso_not-a-real-token"}, 403, "Authorization Error"),
        ({"X-CKAN-API-Key": "garbage"}, 403, "Authorization Error"),
        (other_publisher.headers, 403, "Authorization Error"),  # publishing for another agency
        (citizen.headers, 403, "Authorization Error"),
    ]
    for headers, status, kind in cases:
        r = action(client, "package_create", NEW, headers=headers)
        assert r.status_code == status, (headers, r.text)
        assert r.json()["error"]["__type"] == kind
    invalid = [
        ({**NEW, "name": "Tên Có Dấu"}, "name"),
        ({**NEW, "license_id": "all-rights-reserved"}, "license_id"),
        ({**NEW, "groups": [{"name": "khong-co"}]}, "groups"),
        ({**NEW, "name": "dan-so-theo-xa"}, "name"),
        ({**NEW, "tags": [{"name": "<script>"}]}, "tags"),
        ({**NEW, "owner_org": "khong-co"}, "owner_org"),
        ({k: v for k, v in NEW.items() if k != "title"}, "title"),
    ]
    for data, field in invalid:
        r = action(client, "package_create", data, headers=publisher.headers)
        assert r.status_code == 409, (field, r.text)
        error = r.json()["error"]
        assert error["__type"] == "Validation Error" and field in error, error
    assert count(db) == before


def test_update_patch_delete(client, db, catalog, publisher, other_publisher):
    shown = action(client, "package_show", {"id": "dan-so-theo-xa"}).json()["result"]
    assert (
        action(
            client, "package_patch", {"id": "dan-so-theo-xa", "title": "X"}, headers=other_publisher.headers
        ).status_code
        == 403
    )
    patched = action(
        client, "package_patch", {"id": "dan-so-theo-xa", "notes": "Mô tả mới"}, headers=publisher.headers
    ).json()["result"]
    assert (
        patched["notes"] == "Mô tả mới"
        and patched["title"] == shown["title"]
        and patched["tags"] == shown["tags"]
    )
    assert patched["num_resources"] == 1 and patched["metadata_modified"] > shown["metadata_modified"]
    # package_update replaces the metadata; resources are kept when not given
    updated = action(
        client,
        "package_update",
        {"id": shown["id"], "name": "dan-so-theo-xa", "title": "Dân số"},
        headers=publisher.headers,
    ).json()["result"]
    assert updated["title"] == "Dân số" and updated["tags"] == [] and updated["num_resources"] == 1
    # ckanapi `load` round-trip: send back what package_show gave
    full = action(client, "package_show", {"id": "dan-so-theo-xa"}).json()["result"]
    again = action(client, "package_update", full, headers=publisher.headers)
    assert (
        again.status_code == 200
        and again.json()["result"]["resources"][0]["id"] == full["resources"][0]["id"]
    )
    assert (
        action(
            client, "package_delete", {"id": "dan-so-theo-xa"}, headers=other_publisher.headers
        ).status_code
        == 403
    )
    assert action(client, "package_delete", {"id": "dan-so-theo-xa"}, headers=publisher.headers).json()[
        "success"
    ]
    assert action(client, "package_show", {"id": "dan-so-theo-xa"}).status_code == 404
    assert "dan-so-theo-xa" not in action(client, "package_list").json()["result"]
    assert action(client, "package_delete", {"id": "khong-co"}, headers=publisher.headers).status_code == 404


CSV = 'ma_xa,ten_xa,so_ho\n17329,Xã Anh Sơn,5123\n17380,Xã Yên Xuân,4200\n16681,=HYPERLINK("http://evil"),1\n'.encode()


def test_resource_upload_fills_datastore(client, db, catalog, publisher):
    token = issue_token(client, publisher)
    pkg = action(client, "package_show", {"id": "ho-gia-dinh"}).json()["result"]
    r = client.post(
        "/api/action/resource_create",
        data={"package_id": pkg["id"], "name": "Số hộ theo xã"},
        files={"upload": ("so_ho.csv", io.BytesIO(CSV), "text/csv")},
        headers={"Authorization": token},
    )
    assert r.status_code == 200, r.text
    res = r.json()["result"]
    assert res["format"] == "CSV" and res["url_type"] == "upload" and res["datastore_active"] is True
    assert res["size"] == len(CSV) and res["hash"].startswith("sha256:")
    found = action(
        client, "datastore_search", {"resource_id": res["id"], "filters": {"ma_xa": "17380"}}
    ).json()["result"]
    assert found["records"] == [{"_id": 2, "ma_xa": 17380, "ten_xa": "Xã Yên Xuân", "so_ho": 4200}]
    file = client.get(res["url"].replace("http://testserver", ""))
    assert file.status_code == 200 and file.content == CSV
    # update with a new file
    r = client.post(
        "/api/action/resource_update",
        data={"id": res["id"]},
        files={"upload": ("so_ho.csv", io.BytesIO(b"a,b\n1,2\n"), "text/csv")},
        headers={"Authorization": token},
    )
    assert (
        r.status_code == 200
        and action(client, "datastore_info", {"id": res["id"]}).json()["result"]["meta"]["count"] == 1
    )


def test_bad_uploads_are_refused_and_leave_nothing(client, db, catalog, publisher, monkeypatch):
    from tinhso.opendata.config import get_opendata_settings

    token = issue_token(client, publisher)
    pkg = action(client, "package_show", {"id": "ho-gia-dinh"}).json()["result"]
    monkeypatch.setattr(get_opendata_settings(), "upload_max_bytes", 1000)
    for filename, content, fragment in (
        ("x.exe", b"MZ\x90\x00", "Unsupported file type"),
        ("x.pdf", b"not a pdf", "not a valid PDF"),
        ("x.json", b"{broken", "not a valid JSON"),
        ("x.csv", b"a,b\n" + b"1,2\n" * 400, "too large"),
    ):
        r = client.post(
            "/api/action/resource_create",
            data={"package_id": pkg["id"]},
            files={"upload": (filename, io.BytesIO(content), "application/octet-stream")},
            headers={"Authorization": token},
        )
        assert r.status_code == 409, r.text
        assert fragment in r.json()["error"]["upload"][0]
    assert action(client, "package_show", {"id": "ho-gia-dinh"}).json()["result"]["num_resources"] == 0
    r = action(
        client,
        "resource_create",
        {"package_id": pkg["id"], "url": "https://example.org/a.csv"},
        headers={"Authorization": token},
    )
    assert r.status_code == 200 and r.json()["result"]["format"] == "CSV"


def test_tokens_list_revoke_and_system_tokens(client, db, catalog, publisher, factory):
    token = issue_token(client, publisher, "script")
    listed = client.get("/api/v1/opendata/tokens", headers=publisher.headers).json()
    assert [t["name"] for t in listed] == ["script"] and "token" not in listed[0]
    assert (
        client.delete(
            f"/api/v1/opendata/tokens/{listed[0]['id']}", headers=factory.person().headers
        ).status_code
        == 404
    )
    assert (
        client.delete(f"/api/v1/opendata/tokens/{listed[0]['id']}", headers=publisher.headers).status_code
        == 204
    )
    assert action(client, "package_create", NEW, headers={"Authorization": token}).status_code == 403
    # an agency admin issues a token for one of the agency's systems; the system publishes for the agency
    admin = factory.person(("agency_admin", "official"), agency=THONG_KE)
    system = factory.system(agency=THONG_KE)
    r = client.post(
        "/api/v1/opendata/tokens",
        json={"name": "he-thong", "system_id": system.principal.system_id},
        headers=admin.headers,
    )
    assert r.status_code == 201
    created = action(client, "package_create", NEW, headers={"X-CKAN-API-Key": r.json()["token"]})
    assert created.status_code == 200, created.text
    other_system = factory.system(agency=NNMT)
    r = client.post(
        "/api/v1/opendata/tokens",
        json={"name": "x", "system_id": other_system.principal.system_id},
        headers=admin.headers,
    )
    assert r.status_code == 403
    assert client.post("/api/v1/opendata/tokens", json={"name": "x"}).status_code == 401
