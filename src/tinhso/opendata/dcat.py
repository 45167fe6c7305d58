"""DCAT-AP 3 export with rdflib: the catalogue (paged with Hydra, like ckanext-dcat) and single datasets."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, RDFS, SKOS, XSD
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.opendata.ckan.shapes import package_dicts
from tinhso.opendata.models import Group
from tinhso.opendata.search import Filters, SortKey, Term, Visibility, search

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
ADMS = Namespace("http://www.w3.org/ns/adms#")
EU = "http://publications.europa.eu/resource/authority/"
FORMATS = {
    "ttl": ("turtle", "text/turtle; charset=utf-8"),
    "jsonld": ("json-ld", "application/ld+json"),
    "rdf": ("xml", "application/rdf+xml"),
    "xml": ("xml", "application/rdf+xml"),
    "n3": ("n3", "text/n3; charset=utf-8"),
}
MEDIA = {
    "CSV": "text/csv",
    "JSON": "application/json",
    "XLSX": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "PARQUET": "application/vnd.apache.parquet",
    "PDF": "application/pdf",
    "XML": "application/xml",
    "GEOJSON": "application/geo+json",
}
PER_PAGE = 100


def _graph() -> Graph:
    g = Graph()
    for prefix, ns in (
        ("dcat", DCAT),
        ("dct", DCTERMS),
        ("foaf", FOAF),
        ("hydra", HYDRA),
        ("vcard", VCARD),
        ("skos", SKOS),
        ("adms", ADMS),
    ):
        g.bind(prefix, ns)
    return g


def _dt(value: str | None) -> Literal | None:
    return Literal(value, datatype=XSD.dateTime) if value else None


def add_dataset(g: Graph, base: str, pkg: dict[str, Any], themes: dict[str, str | None]) -> URIRef:
    ds = URIRef(f"{base}/dataset/{pkg['name']}")
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(pkg["id"])))
    g.add((ds, DCTERMS.title, Literal(pkg["title"], lang="vi")))
    if pkg.get("title_en"):
        g.add((ds, DCTERMS.title, Literal(pkg["title_en"], lang="en")))
    if pkg.get("notes"):
        g.add((ds, DCTERMS.description, Literal(pkg["notes"], lang="vi")))
    for tag in pkg["tags"]:
        g.add((ds, DCAT.keyword, Literal(tag["name"], lang="vi")))
    for key, prop in (("metadata_created", DCTERMS.issued), ("metadata_modified", DCTERMS.modified)):
        lit = _dt(pkg.get(key))
        if lit is not None:
            g.add((ds, prop, lit))
    g.add((ds, DCAT.landingPage, URIRef(f"{base}/opendata/dataset/{pkg['name']}")))
    g.add(
        (
            ds,
            DCTERMS.language,
            URIRef(f"{EU}language/{'VIE' if pkg.get('language', 'vi') == 'vi' else 'ENG'}"),
        )
    )
    org = pkg.get("organization")
    if org:
        agent = URIRef(f"{base}/opendata/organization/{org['name']}")
        g.add((ds, DCTERMS.publisher, agent))
        g.add((agent, RDF.type, FOAF.Agent))
        g.add((agent, FOAF.name, Literal(org["title"], lang="vi")))
        if org.get("title_en"):
            g.add((agent, FOAF.name, Literal(org["title_en"], lang="en")))
        g.add((agent, DCTERMS.identifier, Literal(org["id"])))
        contact = BNode()
        g.add((ds, DCAT.contactPoint, contact))
        g.add((contact, RDF.type, VCARD.Organization))
        g.add((contact, VCARD.fn, Literal(pkg.get("maintainer") or org["title"])))
    for group in pkg["groups"]:
        theme = themes.get(group["name"])
        if theme:
            g.add((ds, DCAT.theme, URIRef(f"{EU}data-theme/{theme}")))
    if pkg.get("frequency"):
        g.add((ds, DCTERMS.accrualPeriodicity, URIRef(f"{EU}frequency/{pkg['frequency']}")))
    if pkg.get("temporal_start") or pkg.get("temporal_end"):
        period = BNode()
        g.add((ds, DCTERMS.temporal, period))
        g.add((period, RDF.type, DCTERMS.PeriodOfTime))
        if pkg.get("temporal_start"):
            g.add((period, DCAT.startDate, Literal(pkg["temporal_start"], datatype=XSD.date)))
        if pkg.get("temporal_end"):
            g.add((period, DCAT.endDate, Literal(pkg["temporal_end"], datatype=XSD.date)))
    if pkg.get("spatial"):
        place = BNode()
        g.add((ds, DCTERMS.spatial, place))
        g.add((place, RDF.type, DCTERMS.Location))
        g.add((place, SKOS.prefLabel, Literal(pkg["spatial"], lang="vi")))
    if pkg.get("version"):
        g.add((ds, URIRef("http://www.w3.org/2002/07/owl#versionInfo"), Literal(pkg["version"])))
    for res in pkg["resources"]:
        dist = URIRef(f"{base}/dataset/{pkg['name']}/resource/{res['id']}")
        g.add((ds, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCTERMS.title, Literal(res["name"], lang="vi")))
        if res.get("description"):
            g.add((dist, DCTERMS.description, Literal(res["description"], lang="vi")))
        if res.get("url"):
            g.add((dist, DCAT.accessURL, URIRef(res["url"])))
            if res.get("url_type") in ("upload", "datastore"):
                g.add((dist, DCAT.downloadURL, URIRef(res["url"])))
        fmt = (res.get("format") or "").upper()
        if fmt:
            g.add((dist, DCTERMS.format, URIRef(f"{EU}file-type/{fmt}")))
            if fmt in MEDIA:
                g.add(
                    (
                        dist,
                        DCAT.mediaType,
                        URIRef(f"https://www.iana.org/assignments/media-types/{MEDIA[fmt]}"),
                    )
                )
        if pkg.get("license_url"):
            url = pkg["license_url"]
            g.add((dist, DCTERMS.license, URIRef(url if url.startswith("http") else base + url)))
        if res.get("size"):
            g.add((dist, DCAT.byteSize, Literal(res["size"], datatype=XSD.nonNegativeInteger)))
        lit = _dt(res.get("last_modified"))
        if lit is not None:
            g.add((dist, DCTERMS.modified, lit))
    return ds


def _themes(session: Session) -> dict[str, str | None]:
    return {name: theme for name, theme in session.execute(select(Group.name, Group.eu_theme))}


def dataset_graph(session: Session, base: str, dataset_id: str) -> Graph:
    g = _graph()
    pkg = package_dicts(session, [dataset_id], base)[0]
    add_dataset(g, base, pkg, _themes(session))
    return g


def catalog_graph(
    session: Session,
    base: str,
    fmt: str,
    page: int,
    modified_since: datetime | None,
    text: str = "",
    filters: Filters | None = None,
) -> Graph:
    filters = filters or Filters()
    if modified_since is not None:
        filters.groups.append([Term("metadata_modified", [], (modified_since.isoformat(), None))])
    result = search(
        session,
        text,
        filters,
        sort=[SortKey("metadata_modified", True)],
        rows=PER_PAGE,
        start=(page - 1) * PER_PAGE,
        visibility=Visibility(),
    )
    g = _graph()
    catalog = URIRef(f"{base}/catalog")
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((catalog, DCTERMS.title, Literal("Cổng dữ liệu mở tỉnh Nghệ An", lang="vi")))
    g.add((catalog, DCTERMS.title, Literal("Nghệ An Open Data Portal", lang="en")))
    g.add(
        (
            catalog,
            DCTERMS.description,
            Literal("Dữ liệu mở của các cơ quan nhà nước tỉnh Nghệ An.", lang="vi"),
        )
    )
    g.add((catalog, FOAF.homepage, URIRef(f"{base}/opendata")))
    g.add((catalog, DCTERMS.language, URIRef(f"{EU}language/VIE")))
    publisher = URIRef(f"{base}/opendata/organization/uy-ban-nhan-dan-tinh-nghe-an")
    g.add((catalog, DCTERMS.publisher, publisher))
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, Literal("Ủy ban nhân dân tỉnh Nghệ An", lang="vi")))
    g.add((catalog, DCAT.service, URIRef(f"{base}/api/3/action")))
    service = URIRef(f"{base}/api/3/action")
    g.add((service, RDF.type, DCAT.DataService))
    g.add((service, DCTERMS.title, Literal("CKAN Action API", lang="en")))
    g.add((service, DCAT.endpointURL, service))
    g.add((service, DCTERMS.conformsTo, URIRef("https://docs.ckan.org/en/latest/api/")))
    themes = _themes(session)
    for pkg in package_dicts(session, result.ids, base):
        g.add((catalog, DCAT.dataset, add_dataset(g, base, pkg, themes)))
    last = max(1, math.ceil(result.count / PER_PAGE))
    query = f"&modified_since={modified_since.isoformat()}" if modified_since else ""

    def page_uri(n: int) -> URIRef:
        return URIRef(f"{base}/catalog.{fmt}?page={n}{query}")

    paging = page_uri(page)
    g.add((paging, RDF.type, HYDRA.PagedCollection))
    g.add((paging, HYDRA.totalItems, Literal(result.count, datatype=XSD.integer)))
    g.add((paging, HYDRA.itemsPerPage, Literal(PER_PAGE, datatype=XSD.integer)))
    g.add((paging, HYDRA.firstPage, page_uri(1)))
    g.add((paging, HYDRA.lastPage, page_uri(last)))
    if page < last:
        g.add((paging, HYDRA.nextPage, page_uri(page + 1)))
    if page > 1:
        g.add((paging, HYDRA.previousPage, page_uri(page - 1)))
    g.add((paging, RDFS.label, Literal(f"page {page} of {last}")))
    return g
