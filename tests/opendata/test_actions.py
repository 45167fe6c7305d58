"""CKAN Action API transport, read actions, envelopes and error objects."""

from __future__ import annotations

from tests.opendata.conftest import TK_ORG, action


def test_envelope_on_both_paths_and_no_redirect(client, catalog):
    for path in ("/api/3/action/package_list", "/api/action/package_list", "/api/action/package_list/"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 200, path
        body = r.json()
        assert body["success"] is True
        assert body["help"].endswith("/api/3/action/help_show?name=package_list")
        # private datasets never appear in package_list
        assert body["result"] == ["chat-luong-khong-khi", "dan-so-theo-xa", "ho-gia-dinh"]
    assert client.get("/api/3").json() == {"version": 3}


def test_unknown_action_and_get_on_write_are_bare_400_strings(client, catalog):
    r = client.get("/api/3/action/no_such_action")
    assert r.status_code == 400 and r.json() == "Bad request - Action name not known: no_such_action"
    r = client.get("/api/3/action/package_create", params={"name": "x"})
    assert r.status_code == 400 and "POST" in r.json()
    r = client.post(
        "/api/3/action/package_show", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json().startswith("Bad request - JSON Error")


def test_package_show_by_name_and_id_and_shape(client, catalog):
    by_name = action(client, "package_show", {"id": "dan-so-theo-xa"}, get=True).json()["result"]
    by_id = action(client, "package_show", {"id": by_name["id"]}).json()["result"]
    assert by_id == by_name
    for key in (
        "id",
        "name",
        "title",
        "type",
        "state",
        "private",
        "owner_org",
        "organization",
        "notes",
        "license_id",
        "license_title",
        "license_url",
        "isopen",
        "metadata_created",
        "metadata_modified",
        "num_resources",
        "num_tags",
        "tags",
        "groups",
        "extras",
        "resources",
        "relationships_as_subject",
    ):
        assert key in by_name, key
    assert by_name["organization"]["name"] == TK_ORG
    assert by_name["isopen"] is True and by_name["license_id"] == "CC-BY-4.0"
    assert {t["name"] for t in by_name["tags"]} == {"dân số", "giới tính"}
    assert by_name["groups"][0]["name"] == "dan-cu"
    res = by_name["resources"][0]
    assert res["datastore_active"] is True and res["url"].endswith(f"/datastore/dump/{res['id']}")
    assert "T" in by_name["metadata_modified"] and "+" not in by_name["metadata_modified"]
    shown = action(client, "resource_show", {"id": res["id"]}, get=True).json()["result"]
    assert shown["package_id"] == by_name["id"]


def test_not_found_errors(client, catalog):
    for name, data in (
        ("package_show", {"id": "khong-co"}),
        ("resource_show", {"id": "0" * 32}),
        ("organization_show", {"id": "khong-co"}),
        ("group_show", {"id": "khong-co"}),
        ("datastore_search", {"resource_id": "0" * 32}),
    ):
        r = action(client, name, data, get=True)
        assert r.status_code == 404, name
        body = r.json()
        assert body["success"] is False and body["error"]["__type"] == "Not Found Error"
        assert body["error"]["message"].startswith("Not found: ")
        assert body["error"]["message_vi"]


def test_private_dataset_only_for_its_publishers(client, catalog, publisher, other_publisher):
    assert action(client, "package_show", {"id": "so-lieu-noi-bo"}).status_code == 404
    assert (
        action(client, "package_show", {"id": "so-lieu-noi-bo"}, headers=other_publisher.headers).status_code
        == 404
    )
    r = action(client, "package_show", {"id": "so-lieu-noi-bo"}, headers=publisher.headers)
    assert r.status_code == 200 and r.json()["result"]["private"] is True
    found = action(
        client, "package_search", {"include_private": True, "rows": 50}, headers=publisher.headers
    ).json()["result"]
    assert "so-lieu-noi-bo" in {d["name"] for d in found["results"]}
    anon = action(client, "package_search", {"include_private": True, "rows": 50}).json()["result"]
    assert "so-lieu-noi-bo" not in {d["name"] for d in anon["results"]}


def test_lists_and_site_actions(client, catalog):
    orgs = action(client, "organization_list", get=True).json()["result"]
    assert TK_ORG in orgs and len(orgs) <= 1000
    all_fields = action(
        client, "organization_list", {"all_fields": "true", "sort": "package_count desc"}, get=True
    ).json()["result"]
    assert len(all_fields) == 25  # CKAN's cap with all_fields
    assert all_fields[0]["name"] == TK_ORG and all_fields[0]["package_count"] == 2
    org = action(
        client, "organization_show", {"id": "000.00.16.H41", "include_datasets": True}, get=True
    ).json()["result"]
    assert org["name"] == TK_ORG and {p["name"] for p in org["packages"]} == {"dan-so-theo-xa", "ho-gia-dinh"}
    groups = action(client, "group_list", {"all_fields": True}).json()["result"]
    assert {"dan-cu", "moi-truong"} <= {g["name"] for g in groups}
    assert next(g for g in groups if g["name"] == "dan-cu")["package_count"] == 2
    tags = action(client, "tag_list", {"query": "dan"}, get=True).json()["result"]
    assert tags == ["dân số"]
    licenses = {lic["id"] for lic in action(client, "license_list").json()["result"]}
    assert {"CC-BY-4.0", "CC0-1.0", "ODC-BY-1.0", "nghean-odl-1.0"} <= licenses
    status = action(client, "status_show").json()["result"]
    assert status["locale_default"] == "vi" and "datastore" in status["extensions"]
    assert (
        action(client, "help_show", {"name": "package_search"}).json()["result"].startswith("Search datasets")
    )
    assert action(client, "help_show", {"name": "nope"}).status_code == 404
    assert action(client, "organization_list", {"sort": "bogus asc"}).status_code == 409
