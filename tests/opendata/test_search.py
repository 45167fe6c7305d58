"""package_search: accent-insensitive full text, fq, sort, facets, caps and stable deep paging."""

from __future__ import annotations

import pytest

from tests.opendata.conftest import NNMT, THONG_KE, TK_ORG, action, make_dataset
from tinhso.opendata.ckan.fq import parse_fq, parse_q, parse_sort
from tinhso.opendata.errors import SearchQueryError


def names(client, **params):
    body = action(client, "package_search", params, get=True).json()
    assert body["success"], body
    return [d["name"] for d in body["result"]["results"]]


@pytest.mark.parametrize("q", ["dan so", "Dân số", "DAN SỐ", "dân so", "dan"])
def test_accent_and_case_insensitive(client, catalog, q):
    assert names(client, q=q)[0] == "dan-so-theo-xa"


def test_text_matches_tags_resources_and_publisher(client, catalog):
    assert names(client, q="khong khi") == ["chat-luong-khong-khi"]
    assert "ho-gia-dinh" in names(client, q="ho gia dinh")
    assert set(names(client, q="thong ke")) == {"dan-so-theo-xa", "ho-gia-dinh"}  # publisher name
    assert names(client, q="bang dan so theo xa")[0] == "dan-so-theo-xa"  # resource name
    assert names(client, q="khongcotudonay") == []


def test_sql_and_fts_syntax_in_q_is_just_text(client, catalog):
    for q in ("'; DROP TABLE opendata_dataset; --", 'dan" OR 1=1', "NEAR(dan so)", "*", "dan AND so"):
        r = action(client, "package_search", {"q": q}, get=True)
        assert r.status_code == 200, q
    assert len(names(client, rows=100)) == 3


def test_fq_filters(client, catalog):
    assert set(names(client, fq=f"organization:{TK_ORG}")) == {"dan-so-theo-xa", "ho-gia-dinh"}
    assert set(names(client, fq=f"owner_org:{NNMT}")) == {"chat-luong-khong-khi"}
    assert set(names(client, fq='tags:"dân số"')) == {"dan-so-theo-xa"}
    assert set(names(client, fq="groups:moi-truong OR groups:dan-cu")) == {
        "dan-so-theo-xa",
        "ho-gia-dinh",
        "chat-luong-khong-khi",
    }
    assert set(names(client, fq=f"-organization:{TK_ORG}")) == {"chat-luong-khong-khi"}
    assert set(names(client, fq="res_format:csv")) == {"dan-so-theo-xa", "chat-luong-khong-khi"}
    assert set(names(client, fq="license_id:cc-by")) == {"dan-so-theo-xa"}
    assert set(names(client, fq="groups:(moi-truong OR dan-cu) +capacity:public", q="gioi tinh")) == {
        "dan-so-theo-xa"
    }
    assert len(names(client, fq="metadata_modified:[2020-01-01T00:00:00Z TO *]")) == 3
    assert names(client, fq="metadata_modified:[* TO 2020-01-01]") == []
    assert len(names(client, fq="+state:(active OR draft) +capacity:public")) == 3
    # q may carry field:value filters, as uData's harvester sends them
    assert set(names(client, q=f"organization:{TK_ORG} gioi")) == {"dan-so-theo-xa"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"fq": "bogus:1"}, "unknown field"),
        ({"fq": "tags:(a AND b)"}, "only OR"),
        ({"fq": "organization:x OR"}, "OR needs"),
        ({"fq": "metadata_modified:[2020 TO]"}, "range"),
        ({"fq": "metadata_modified:[yesterday TO *]"}, "invalid date"),
        ({"fq": "tags:(unclosed"}, "cannot parse"),
        ({"fq": "tags:[a TO b]"}, "only supported on dates"),
        ({"sort": "popularity desc"}, "cannot sort"),
        ({"sort": "name sideways"}, "asc or desc"),
        ({"facet.field": '["secret_column"]'}, "cannot facet"),
    ],
)
def test_malformed_queries_are_search_query_errors(client, catalog, params, fragment):
    r = action(client, "package_search", params, get=True)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["__type"] == "Search Query Error" and fragment in error["message"]


def test_bad_numbers_are_validation_errors_and_rows_are_clamped(client, catalog):
    for params, field in (({"start": -1}, "start"), ({"rows": "many"}, "rows"), ({"rows": -5}, "rows")):
        r = action(client, "package_search", params, get=True)
        assert r.status_code == 409 and field in r.json()["error"]
    r = action(client, "package_search", {"rows": 100000}, get=True)
    assert r.status_code == 200 and r.json()["result"]["count"] == 3
    assert action(client, "package_search", get=True).json()["result"]["count"] == 3


def test_facets_in_both_shapes(client, catalog):
    result = action(
        client,
        "package_search",
        {"facet.field": ["organization", "tags", "res_format", "license_id", "groups"], "rows": 0},
        get=True,
    ).json()["result"]
    assert result["results"] == []
    assert result["facets"]["organization"] == {TK_ORG: 2, "so-nong-nghiep-va-moi-truong": 1}
    assert result["facets"]["res_format"] == {"CSV": 2}
    assert result["facets"]["groups"]["dan-cu"] == 2
    items = result["search_facets"]["organization"]["items"]
    assert items[0] == {"name": TK_ORG, "display_name": "Thống kê tỉnh Nghệ An", "count": 2}
    limited = action(
        client, "package_search", {"facet.field": '["tags"]', "facet.limit": 1}, get=True
    ).json()["result"]
    assert len(limited["facets"]["tags"]) == 1


def test_deep_paging_is_stable_and_complete(client, db, publisher):
    for i in range(23):
        make_dataset(
            db, publisher, name=f"bo-du-lieu-{i:02d}", title=f"Bộ dữ liệu số {i % 4}", owner_org=THONG_KE
        )
    for sort in (
        "id asc",
        "metadata_modified desc",
        "score desc, metadata_modified desc",
        "title_string asc",
    ):
        seen: list[str] = []
        start = 0
        while True:
            page = action(
                client, "package_search", {"rows": 5, "start": start, "sort": sort}, get=True
            ).json()["result"]
            if not page["results"]:
                break
            seen += [d["id"] for d in page["results"]]
            start += len(page["results"])
        assert len(seen) == len(set(seen)) == 23, sort
        again = action(client, "package_search", {"rows": 23, "sort": sort}, get=True).json()["result"]
        assert [d["id"] for d in again["results"]] == seen
    ids = [
        d["id"]
        for d in action(client, "package_search", {"rows": 23, "sort": "id asc"}, get=True).json()["result"][
            "results"
        ]
    ]
    assert ids == sorted(ids)


def test_parsers_directly():
    f = parse_fq('organization:a OR organization:"b c" -groups:z tags:(x OR "y z")')
    assert [[(t.field, t.values, t.negate) for t in g] for g in f.groups] == [
        [("organization", ["a"], False), ("organization", ["b c"], False)],
        [("groups", ["z"], True)],
        [("tags", ["x", "y z"], False)],
    ]
    text, filters = parse_q("*:*")
    assert text == "" and filters.groups == []
    assert [(k.field, k.descending) for k in parse_sort("")] == [("score", True), ("metadata_modified", True)]
    with pytest.raises(SearchQueryError):
        parse_fq("organization:")
