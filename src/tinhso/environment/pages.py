"""Environment pages: the public air-quality page, station pages (Apache ECharts), and the duty page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tinhso.environment import alerts as alert_rules
from tinhso.environment import parameters as params
from tinhso.environment import public
from tinhso.environment import repository as repo
from tinhso.environment.indices import aqi_categories, wqi_categories
from tinhso.environment.models import Station
from tinhso.identity.auth import CurrentPrincipal, OptionalPrincipal
from tinhso.kit.deps import SessionDep
from tinhso.kit.errors import NotFound
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)

# Short advice per AQI band (a paraphrase for the public; Tables 4 and 5 of Decision 1459 hold the full text).
AQI_ADVICE = {
    "Tốt": "Air quality is good; enjoy outdoor activities.",
    "Trung bình": "Acceptable; unusually sensitive people should limit long outdoor exertion.",
    "Kém": "Sensitive groups should reduce outdoor exertion.",
    "Xấu": "Everyone should limit outdoor exertion; sensitive groups should stay indoors.",
    "Rất xấu": "Health alert: everyone should avoid outdoor activities.",
    "Nguy hại": "Emergency: everyone should stay indoors.",
}


def _station_or_404(session, code: str) -> Station:  # noqa: ANN001
    station = repo.get_station_by_code(session, code)
    if station is None or not station.public:
        raise NotFound("station_not_found", "Station {id} not found", id=code)
    return station


@router.get("/environment", response_class=HTMLResponse)
def air_quality_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> HTMLResponse:
    rows = public.current(session, repo.public_stations(session))
    return render(
        request,
        "environment/index.html",
        {
            "rows": rows,
            "aqi_categories": aqi_categories(),
            "wqi_categories": wqi_categories(),
            "parameters": params.PARAMETERS,
        },
    )


@router.get("/environment/stations/{code}", response_class=HTMLResponse)
def station_page(
    code: str, request: Request, session: SessionDep, principal: OptionalPrincipal
) -> HTMLResponse:
    station = _station_or_404(session, code)
    (now,) = public.current(session, [station])
    prefix = "aqi" if station.kind == "air" else "wqi"
    charts = {}
    if station.kind != "weather":
        charts = {
            "day": public.series(session, station, f"{prefix}_hour", 1),
            "month": public.series(session, station, f"{prefix}_day", 30),
        }
    advice = AQI_ADVICE.get(now.category.name_vi) if (now.category and prefix == "aqi") else None
    return render(
        request,
        "environment/station.html",
        {
            "row": now,
            "station": station,
            "charts": charts,
            "index_name": "VN_AQI" if prefix == "aqi" else "VN_WQI",
            "advice": advice,
            "parameters": params.PARAMETERS,
            "categories": aqi_categories() if prefix == "aqi" else wqi_categories(),
        },
    )


@router.get("/environment/duty", response_class=HTMLResponse)
def duty_page(request: Request, session: SessionDep, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return RedirectResponse(f"/signin?next={quote(str(request.url.path))}", status_code=303)
    items = list(session.scalars(repo.alerts_statement(session, principal, "active").limit(200)))
    stations = {s.id: s for s in session.query(Station).filter(Station.id.in_({a.station_id for a in items}))}
    return render(request, "environment/duty.html", {"alerts": items, "stations": stations})


@router.post("/environment/duty/alerts/{alert_id}/{action}")
def duty_action(
    alert_id: str,
    action: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    note: str | None = Form(default=None, max_length=2000),
) -> Response:
    if action == "acknowledge":
        alert_rules.acknowledge(session, principal, alert_id, note)
    elif action == "resolve":
        alert_rules.resolve(session, principal, alert_id, note)
    else:
        raise NotFound()
    return RedirectResponse("/environment/duty", status_code=303)
