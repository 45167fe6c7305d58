"""datastore_search, datastore_info and datastore_search_sql."""

from __future__ import annotations

import pytest

from tests.opendata.conftest import action


def ds(client, **params):
    return action(client, "datastore_search", params)


def test_defaults_fields_and_links(client, catalog):
    r = ds(client, resource_id=catalog.table_resource).json()["result"]
    assert r["total"] == 6 and r["limit"] == 100 and r["offset"] == 0 and len(r["records"]) == 6
    assert [f["id"] for f in r["fields"]] == ["_id", "commune_code", "commune_name", "sex", "population"]
    assert r["records"][0] == {
        "_id": 1,
        "commune_code": 17329,
        "commune_name": "Xã Anh Sơn",
        "sex": "Nam",
        "population": 12034,
    }
    assert r["_links"]["next"].endswith("offset=100")
    info = action(client, "datastore_info", {"id": catalog.table_resource}).json()["result"]
    assert info["meta"]["count"] == 6


def test_filters_q_sort_fields_paging(client, catalog):
    rid = catalog.table_resource
    r = ds(
        client,
        resource_id=rid,
        filters={"sex": "Nữ"},
        sort="population desc",
        fields=["commune_name", "population"],
    ).json()["result"]
    assert r["total"] == 3
    assert r["records"] == [
        {"commune_name": "Phường Vinh Phú", "population": 41876},
        {"commune_name": "Xã Anh Sơn", "population": 12511},
        {"commune_name": "Xã Yên Xuân", "population": 9377},
    ]
    # GET with JSON strings, as ckanapi --get-request and browsers send them
    r = action(
        client,
        "datastore_search",
        {"resource_id": rid, "filters": '{"commune_code": ["17329", "17380"]}', "limit": 2, "offset": 2},
        get=True,
    ).json()["result"]
    assert r["total"] == 4 and [x["_id"] for x in r["records"]] == [3, 4]
    assert ds(client, resource_id=rid, q="yen xuan").json()["result"]["total"] == 2  # accent-insensitive
    assert ds(client, resource_id=rid, q={"commune_name": "vinh"}).json()["result"]["total"] == 2
    lists = ds(client, resource_id=rid, limit=1, records_format="lists").json()["result"]
    assert lists["records"] == [[1, 17329, "Xã Anh Sơn", "Nam", 12034]]
    big = ds(client, resource_id=rid, limit=1_000_000).json()["result"]
    assert big["limit"] == 32000  # clamped like CKAN
    assert ds(client, resource_id=rid, include_total=False).json()["result"]["total"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"filters": {"khong_co": 1}}, "filters"),
        ({"filters": {"population": "nhiều"}}, "filters"),
        ({"sort": "population sideways"}, "sort"),
        ({"sort": "khong_co"}, "sort"),
        ({"fields": ["khong_co"]}, "fields"),
        ({"offset": -1}, "offset"),
        ({"limit": "x"}, "limit"),
        ({"records_format": "xml"}, "records_format"),
    ],
)
def test_bad_datastore_input(client, catalog, params, field):
    r = ds(client, resource_id=catalog.table_resource, **params)
    assert (
        r.status_code == 409
        and r.json()["error"]["__type"] == "Validation Error"
        and field in r.json()["error"]
    )


def test_sql_is_off_by_default_and_read_only_when_on(client, catalog, monkeypatch):
    from tinhso.opendata.config import get_opendata_settings

    sql = f'SELECT sex, sum(population) AS total FROM "{catalog.table_resource}" GROUP BY sex ORDER BY sex'
    r = action(client, "datastore_search_sql", {"sql": sql})
    assert r.status_code == 403 and r.json()["error"]["__type"] == "Authorization Error"
    monkeypatch.setattr(get_opendata_settings(), "sql_enabled", True)
    r = action(client, "datastore_search_sql", {"sql": sql}).json()
    assert r["success"], r
    assert r["result"]["records"] == [{"sex": "Nam", "total": 61256}, {"sex": "Nữ", "total": 63764}]
    for bad in (
        f'DELETE FROM "{catalog.table_resource}"',
        f'SELECT 1 FROM "{catalog.table_resource}"; DROP TABLE x',
        "SELECT * FROM read_csv('/etc/passwd')",
        f"SELECT * FROM read_csv('/etc/passwd'), \"{catalog.table_resource}\"",
        "SELECT * FROM opendata_dataset",
    ):
        r = action(client, "datastore_search_sql", {"sql": bad})
        assert r.status_code in (400, 409), (bad, r.text)
    assert ds(client, resource_id=catalog.table_resource).json()["result"]["total"] == 6
