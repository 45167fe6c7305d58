"""The demo catalogue: at least 30 datasets with tables, published through the real services."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.opendata.conftest import action
from tinhso.opendata import demo
from tinhso.opendata.models import Dataset, Publication


def test_demo_catalogue(client, db):
    with db.transaction() as session:
        demo.seed_demo(session)
    with db.transaction() as session:
        demo.seed_demo(session)  # idempotent
        assert session.scalar(select(func.count()).select_from(Dataset)) >= 30
        assert session.scalar(select(func.count()).select_from(Publication)) == 7
    result = action(client, "package_search", {"q": "lo trinh khung kien truc", "rows": 1}).json()["result"]
    roadmap = result["results"][0]
    assert roadmap["name"] == "lo-trinh-khung-kien-truc-so"
    rows = action(
        client, "datastore_search", {"resource_id": roadmap["resources"][0]["id"], "limit": 0}
    ).json()["result"]
    assert rows["total"] == 142
    population = action(client, "package_show", {"id": "dan-so-theo-xa-va-gioi-tinh"}).json()["result"]
    table = action(
        client, "datastore_search", {"resource_id": population["resources"][0]["id"], "limit": 0}
    ).json()["result"]
    assert table["total"] == 260  # 130 communes x 2 sexes
    assert "Dữ liệu tổng hợp minh hoạ" in population["notes"]
    facets = action(
        client, "package_search", {"facet.field": '["organization"]', "rows": 0, "facet.limit": 100}
    ).json()["result"]
    assert len(facets["facets"]["organization"]) >= 10
