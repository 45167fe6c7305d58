"""The real `ckanapi` client against a running server: list, search with facets, show, DataStore, writes."""

from __future__ import annotations

import io

import ckanapi
import pytest

from tests.opendata.conftest import TK_ORG


def test_ckanapi_client_end_to_end(live_server, catalog, publisher):
    with ckanapi.RemoteCKAN(live_server) as anon:
        assert sorted(anon.action.package_list()) == ["chat-luong-khong-khi", "dan-so-theo-xa", "ho-gia-dinh"]
        assert anon.action.status_show()["locale_default"] == "vi"
        found = anon.action.package_search(
            q="dan so gioi tinh", **{"facet.field": '["organization","tags"]'}, rows=10
        )
        assert found["count"] == 1 and found["results"][0]["name"] == "dan-so-theo-xa"
        assert found["facets"]["organization"] == {TK_ORG: 1}
        shown = anon.action.package_show(id="dan-so-theo-xa")
        table = anon.action.datastore_search(
            resource_id=shown["resources"][0]["id"], filters={"sex": "Nam"}, sort="population desc"
        )
        assert [r["population"] for r in table["records"]] == [40210, 12034, 9012]
        with pytest.raises(ckanapi.NotFound):
            anon.action.package_show(id="khong-co")
        with pytest.raises(ckanapi.SearchQueryError):
            anon.action.package_search(fq="bogus:1")
        with pytest.raises(ckanapi.NotAuthorized):
            anon.action.package_create(name="vo-danh", title="Không có quyền", owner_org=TK_ORG)
    with ckanapi.RemoteCKAN(live_server, get_only=True) as getter:
        assert getter.action.organization_show(id=TK_ORG)["package_count"] == 2

    import httpx

    token = httpx.post(
        f"{live_server}/api/v1/opendata/tokens", json={"name": "ckanapi"}, headers=publisher.headers
    ).json()["token"]
    with ckanapi.RemoteCKAN(live_server, apikey=token) as ckan:
        created = ckan.action.package_create(
            name="nhiet-do-vinh",
            title="Nhiệt độ Vinh",
            owner_org=TK_ORG,
            license_id="CC-BY-4.0",
            tags=[{"name": "khí tượng"}],
        )
        assert created["organization"]["name"] == TK_ORG
        with pytest.raises(ckanapi.ValidationError) as err:
            ckan.action.package_create(name="nhiet-do-vinh", title="Trùng tên", owner_org=TK_ORG)
        assert "name" in err.value.error_dict
        res = ckan.action.resource_create(
            package_id=created["id"],
            name="Nhiệt độ",
            upload=("nhiet_do.csv", io.BytesIO(b"thang,nhiet_do\n1,17.5\n2,19.0\n")),
        )
        assert res["datastore_active"] is True
        assert ckan.action.datastore_search(resource_id=res["id"])["total"] == 2
        ckan.action.package_patch(id="nhiet-do-vinh", notes="Nhiệt độ trung bình tháng")
        assert ckan.action.package_show(id="nhiet-do-vinh")["notes"] == "Nhiệt độ trung bình tháng"
        # ckanapi `search datasets`-style paging ends with an empty page
        start, seen = 0, []
        while True:
            page = ckan.action.package_search(rows=2, start=start, sort="id asc")
            if not page["results"]:
                break
            seen += [d["id"] for d in page["results"]]
            start += len(page["results"])
        assert len(seen) == len(set(seen)) == 4
