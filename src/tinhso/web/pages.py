"""Portal pages."""

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def home() -> str:
    return "<!doctype html><html lang='vi'><title>tinhso</title><h1>Nền tảng tỉnh số Nghệ An</h1></html>"
