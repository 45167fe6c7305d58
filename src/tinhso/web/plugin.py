"""Web portal hooks."""

from tinhso.web.admin import router as admin_router
from tinhso.web.admin_oidc import router as admin_oidc_router
from tinhso.web.admin_systems import router as admin_systems_router
from tinhso.web.pages import router

routers = [router, admin_router, admin_systems_router, admin_oidc_router]
