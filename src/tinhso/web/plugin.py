"""Web portal hooks."""

from tinhso.web.pages import router

routers = [router]
