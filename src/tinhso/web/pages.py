"""Portal pages: the home page."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tinhso.identity.auth import OptionalPrincipal
from tinhso.web.portal import module_cards
from tinhso.web.templating import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, principal: OptionalPrincipal) -> HTMLResponse:
    return render(request, "home.html", {"layers": module_cards(request.app, principal)})
