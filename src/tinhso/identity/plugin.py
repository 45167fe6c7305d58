"""Identity module hooks."""

from sqlalchemy.orm import Session

from tinhso.identity import models as _models  # noqa: F401
from tinhso.identity import oidc_models as _oidc_models  # noqa: F401
from tinhso.identity.demo import seed_demo, seed_roles
from tinhso.identity.endpoints import router
from tinhso.identity.oidc_clients import seed_clients
from tinhso.identity.oidc_endpoints import router as oidc_router
from tinhso.identity.pages import router as pages_router

routers = [router, oidc_router, pages_router]
# Registered OpenID Connect clients (the portal) are loaded by seed(…, False) and kept between tests.
reference_tables = ("identity_oidc_client",)


def seed(session: Session, demo: bool) -> None:
    if demo:
        seed_demo(session)
    else:
        seed_roles(session)
    seed_clients(session)
