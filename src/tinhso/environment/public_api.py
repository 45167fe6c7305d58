"""Public environment API (no credential): current indices, series, and the daily open-data export."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from tinhso.environment import public
from tinhso.environment import repository as repo
from tinhso.environment.aggregates import VN_TZ
from tinhso.environment.indices import aqi_categories, wqi_categories
from tinhso.kit.db import utcnow
from tinhso.kit.deps import ReadSessionDep
from tinhso.kit.errors import BadRequest, NotFound

router = APIRouter(prefix="/api/v1/environment/public", tags=["environment-public"])


@router.get("/stations")
def public_stations(
    session: ReadSessionDep,
    kind: Literal["air", "water", "weather"] | None = None,
    lang: Literal["vi", "en"] = "vi",
) -> dict:
    """Every public station with its current VN_AQI (air) or VN_WQI (water), category and official colour."""
    items = [s.as_dict(lang) for s in public.current(session, repo.public_stations(session, kind))]
    return {"items": items, "total": len(items), "page": 1, "page_size": len(items)}


@router.get("/stations/{code}/series")
def station_series(
    code: str,
    session: ReadSessionDep,
    range: Annotated[Literal["24h", "30d"], Query(description="24 hourly or 30 daily values")] = "24h",  # noqa: A002
) -> dict:
    station = repo.get_station_by_code(session, code)
    if station is None or not station.public or station.kind == "weather":
        raise NotFound("station_not_found", "Station {id} not found", id=code)
    prefix = "aqi" if station.kind == "air" else "wqi"
    kind, days = (f"{prefix}_hour", 1) if range == "24h" else (f"{prefix}_day", 30)
    return {"station": code, "kind": kind, "items": public.series(session, station, kind, days)}


@router.get("/categories")
def categories() -> dict:
    """The official bands and colours (Decisions 1459 and 1460/QĐ-TCMT)."""

    def rows(cats):  # noqa: ANN001, ANN202
        return [
            {
                "min": c.low,
                "max": c.high,
                "vi": c.name_vi,
                "en": c.name_en,
                "colour": c.hex,
                "rgb": list(c.rgb),
            }
            for c in cats
        ]

    return {"vn_aqi": rows(aqi_categories()), "vn_wqi": rows(wqi_categories())}


open_data = APIRouter(prefix="/api/v1/environment/open-data", tags=["environment-public"])


@open_data.get(
    "/daily",
    responses={
        200: {
            "description": "CSV (default) or JSON export",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def daily_export(
    session: ReadSessionDep,
    day: Annotated[
        date | None, Query(alias="date", description="Vietnamese calendar day; default yesterday")
    ] = None,
    format: Literal["csv", "json"] = "csv",  # noqa: A002
) -> Response:
    """The daily open-data export: each public station's daily means and daily index (CC BY 4.0)."""
    today = utcnow().astimezone(VN_TZ).date()
    day = day or today - timedelta(days=1)
    if day > today:
        raise BadRequest("date_in_future", "The date is in the future")
    rows = public.daily_export(session, day)
    name = f"tinhso-moi-truong-{day.isoformat()}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{format}"',
        "Cache-Control": "max-age=300",
    }
    if format == "json":
        body = {"date": day.isoformat(), "licence": "CC-BY-4.0", "fields": public.EXPORT_FIELDS, "rows": rows}
        return Response(json.dumps(body, ensure_ascii=False), media_type="application/json", headers=headers)
    return Response(public.to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
