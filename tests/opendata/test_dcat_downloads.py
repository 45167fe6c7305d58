"""DCAT-AP 3 catalogue and dataset documents; downloads in CSV (injection-safe), JSON, XLSX and Parquet."""

from __future__ import annotations

import csv
import io
import json

import pyarrow.parquet as pq
from openpyxl import load_workbook
from rdflib import Graph, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF

from tests.opendata.conftest import action, make_dataset
from tinhso.opendata import dcat

HYDRA = "http://www.w3.org/ns/hydra/core#"


def graph(client, path, fmt):
    r = client.get(path)
    assert r.status_code == 200, r.text
    g = Graph()
    g.parse(data=r.content, format={"ttl": "turtle", "jsonld": "json-ld", "rdf": "xml"}[fmt])
    return g, r


def test_catalog_in_three_formats(client, catalog):
    for fmt, media in (
        ("ttl", "text/turtle"),
        ("jsonld", "application/ld+json"),
        ("rdf", "application/rdf+xml"),
    ):
        g, r = graph(client, f"/catalog.{fmt}", fmt)
        assert r.headers["content-type"].startswith(media)
        datasets = set(g.subjects(RDF.type, DCAT.Dataset))
        assert {str(d).rsplit("/", 1)[-1] for d in datasets} == {
            "dan-so-theo-xa",
            "chat-luong-khong-khi",
            "ho-gia-dinh",
        }
    ds = URIRef("http://testserver/dataset/dan-so-theo-xa")
    assert (ds, DCAT.theme, URIRef("http://publications.europa.eu/resource/authority/data-theme/SOCI")) in g
    assert (
        ds,
        DCTERMS.accrualPeriodicity,
        URIRef("http://publications.europa.eu/resource/authority/frequency/ANNUAL"),
    ) in g
    titles = {(t.language, str(t)) for t in g.objects(ds, DCTERMS.title)}
    assert ("vi", "Dân số theo xã và giới tính") in titles
    dist = next(g.objects(ds, DCAT.distribution))
    assert (
        dist,
        DCTERMS.format,
        URIRef("http://publications.europa.eu/resource/authority/file-type/CSV"),
    ) in g
    assert str(next(g.objects(dist, DCTERMS.license))) == "https://creativecommons.org/licenses/by/4.0/"


def test_catalog_paging_and_modified_since(client, db, catalog, publisher, monkeypatch):
    monkeypatch.setattr(dcat, "PER_PAGE", 2)
    g, _ = graph(client, "/catalog.ttl?page=2", "ttl")
    page = URIRef("http://testserver/catalog.ttl?page=2")
    assert int(next(g.objects(page, URIRef(HYDRA + "totalItems")))) == 3
    assert str(next(g.objects(page, URIRef(HYDRA + "previousPage")))).endswith("page=1")
    assert not list(g.objects(page, URIRef(HYDRA + "nextPage")))
    assert len(set(g.subjects(RDF.type, DCAT.Dataset))) == 1
    g, _ = graph(client, "/catalog.ttl?modified_since=2100-01-01T00:00:00Z", "ttl")
    assert not set(g.subjects(RDF.type, DCAT.Dataset))
    assert client.get("/catalog.ttl?page=0").status_code == 422
    assert client.get("/catalog.exe").status_code == 404


def test_dataset_documents(client, catalog):
    g, _ = graph(client, "/dataset/dan-so-theo-xa.jsonld", "jsonld")
    assert len(set(g.subjects(RDF.type, DCAT.Dataset))) == 1
    assert client.get("/dataset/so-lieu-noi-bo.ttl").status_code == 404  # private
    assert client.get("/dataset/khong-co.ttl").status_code == 404


def test_downloads_all_formats(client, db, catalog, publisher):
    rid = make_dataset(
        db,
        publisher,
        name="bang-thu",
        title="Bảng thử",
        owner_org="000.00.16.H41",
        rows=[
            {"ten": "=cmd|' /C calc'!A0", "so": -5},
            {"ten": "+SUM(A1:A2)", "so": 7},
            {"ten": "Vinh", "so": 3},
        ],
    )
    r = client.get(f"/opendata/download/{rid}.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows == [["ten", "so"], ["'=cmd|' /C calc'!A0", "-5"], ["'+SUM(A1:A2)", "7"], ["Vinh", "3"]]
    body = json.loads(client.get(f"/opendata/download/{rid}.json").content)
    assert body["records"][0] == {"ten": "=cmd|' /C calc'!A0", "so": -5}
    wb = load_workbook(io.BytesIO(client.get(f"/opendata/download/{rid}.xlsx").content))
    assert [c.value for c in next(wb.active.iter_rows(min_row=2, max_row=2))] == ["'=cmd|' /C calc'!A0", -5]
    table = pq.read_table(io.BytesIO(client.get(f"/datastore/dump/{rid}?format=parquet").content))
    assert table.column("so").to_pylist() == [-5, 7, 3]
    assert client.get(f"/opendata/download/{rid}.exe").status_code == 400
    assert client.get(f"/opendata/download/{'0' * 32}.csv").status_code == 404
    private = action(client, "package_show", {"id": "so-lieu-noi-bo"}, headers=publisher.headers).json()[
        "result"
    ]
    assert private["num_resources"] == 0


def test_download_counts_feed_the_kpi(client, db, catalog):
    from datetime import UTC, datetime, timedelta

    from tinhso.opendata import tasks

    client.get(f"/opendata/download/{catalog.table_resource}.csv")
    client.get(f"/datastore/dump/{catalog.table_resource}")
    now = datetime.now(UTC)
    with db.transaction(write=False) as s:
        assert tasks.measure_downloads(s, now - timedelta(days=1), now + timedelta(days=1), None) == 2
        assert (
            tasks.measure_downloads(s, now - timedelta(days=1), now + timedelta(days=1), "000.00.06.H41") == 0
        )
        assert tasks.measure_datasets(s, now, now + timedelta(days=1), None) == 3
        assert tasks.measure_datasets(s, now, now + timedelta(days=1), "000.00.16.H41") == 2
        assert 0 <= (tasks.measure_quality(s, now, now, None) or 0) <= 100
