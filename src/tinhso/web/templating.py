"""Jinja2 templates shared by every module's pages, with gettext translation and the page language.

A module renders `render(request, "module/page.html", {...})`; its templates live in
`src/tinhso/<module>/templates/<module>/` and extend "base.html".
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader
from starlette.responses import HTMLResponse

from tinhso.kit.i18n import gettext, languages, pick_language
from tinhso.modules import MODULES
from tinhso.settings import get_settings

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


def _language_name(code: str) -> str:
    """A language's name in that language ("Tiếng Việt", "English"), for the language switch."""
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


templates.env.filters["datefmt"] = _datefmt
templates.env.filters["language_name"] = _language_name
templates.env.filters["number"] = _number


def language_of(request: Request) -> str:
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def lang_url(request: Request, code: str) -> str:
    """The current page in another language (the path and its other parameters are kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", code)]
    return request.url.path + "?" + urlencode(params)


def here(request: Request) -> str:
    """The current path with its query, to come back to after signing in."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + ("?" + urlencode(params) if params else "")


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
        "lang_url": lambda code: lang_url(request, code),
        "here": here(request),
        "signin_url": "/signin?" + urlencode({"next": here(request)}),
    }
    ctx.update(context or {})
    response = templates.TemplateResponse(request, name, ctx, status_code=status_code)
    if request.query_params.get("lang") == lang:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            samesite="lax",
            httponly=True,
            secure=get_settings().cookie_secure,
        )
    return response
