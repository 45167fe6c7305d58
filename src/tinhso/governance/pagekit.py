"""What every governance page shares: the error page, who may read, agency names."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.governance import service
from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit.errors import DomainError, NotFound, Unauthorized
from tinhso.kit.i18n import gettext
from tinhso.web.templating import language_of, render


def error_page(request: Request, exc: DomainError) -> HTMLResponse:
    lang = language_of(request)
    return render(
        request,
        "governance/error.html",
        {"status": exc.status, "code": exc.code, "message": gettext(exc.message, lang, **exc.params)},
        status_code=exc.status,
    )


def html_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A page handler whose DomainErrors become the translated error page (its `request` argument is required)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(**kwargs: Any) -> Any:
            try:
                return await fn(**kwargs)
            except DomainError as exc:
                return error_page(kwargs["request"], exc)

        return run_async

    @functools.wraps(fn)
    def run(**kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except DomainError as exc:
            return error_page(kwargs["request"], exc)

    return run


def found(session: Session, model: type[Any], key: str, code: str, message: str) -> Any:
    """The row with this primary key, or NotFound(code, message) with the key as {code}."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(code, message, code=key)
    return row


def reader(principal: Principal | None) -> Principal:
    """The signed-in caller, if they may read governance pages (DomainError otherwise)."""
    if principal is None:
        raise Unauthorized("sign_in_required", "Sign in to see this page")
    service.require_reader(principal)
    return principal


def agency_names(session: Session) -> dict[str, str]:
    return dict(session.execute(select(Agency.code, Agency.name)).tuples().all())


def departments(session: Session) -> list[Agency]:
    """Every agency but the communes' UBNDs (for agency pickers)."""
    return list(session.scalars(select(Agency).where(Agency.kind != "commune").order_by(Agency.code)))


def validation_messages(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]


def message_of(request: Request, exc: DomainError) -> str:
    return gettext(exc.message, language_of(request), **exc.params)


def by_group(items: list[Any], group_of: Callable[[Any], str], lang: str) -> list[dict[str, Any]]:
    """Items in the five KPI groups, in the framework's order: [{code, name, items}]."""
    from tinhso.governance.kpi import GROUPS

    return [
        {"code": code, "name": vi if lang == "vi" else en, "items": [i for i in items if group_of(i) == code]}
        for code, (vi, en) in GROUPS.items()
    ]
