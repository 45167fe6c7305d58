"""Jinja2 templates shared by every module's pages, with gettext translation and the page language.

A module renders `render(request, "module/page.html", {...})`; its templates live in
`src/tinhso/<module>/templates/<module>/` and extend "base.html".
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from starlette.responses import HTMLResponse

from tinhso.kit.i18n import gettext, languages, pick_language
from tinhso.modules import MODULES

LANG_COOKIE = "tinhso_lang"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
_SRC = Path(__file__).resolve().parent.parent


def _loader() -> ChoiceLoader:
    folders = [_SRC / "web" / "templates"] + [
        _SRC / m / "templates" for m in MODULES if m != "web" and (_SRC / m / "templates").is_dir()
    ]
    return ChoiceLoader([FileSystemLoader(str(f)) for f in folders])


templates = Jinja2Templates(directory=str(_SRC / "web" / "templates"))
templates.env.loader = _loader()


def _datefmt(value: datetime | date | None, with_time: bool = True) -> str:
    """dd/mm/yyyy (and HH:MM in Vietnam's time zone) as people read dates on screen."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(TZ)
        return local.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")
    return value.strftime("%d/%m/%Y")


def _number(value: float | int | None, digits: int = 0) -> str:
    """Vietnamese number format: 1.234.567,8."""
    if value is None:
        return ""
    text = f"{value:,.{digits}f}"
    return text.replace(",", "\u2009").replace(".", ",").replace("\u2009", ".")


templates.env.filters["datefmt"] = _datefmt
templates.env.filters["number"] = _number


def language_of(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page in the request's language; `_()` translates, `lang` names the language."""
    lang = language_of(request)
    ctx: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "languages": languages(),
        "_": lambda message, **params: gettext(message, lang, **params),
        "principal": getattr(request.state, "principal", None),
        "csrf_token": getattr(getattr(request.state, "web_session", None), "csrf_token", ""),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if request.query_params.get("lang") == lang:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response
