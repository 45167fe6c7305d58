"""Identity module hooks."""

from sqlalchemy.orm import Session

from tinhso.identity import models as _models  # noqa: F401
from tinhso.identity.demo import seed_demo, seed_roles
from tinhso.identity.endpoints import router

routers = [router]


def seed(session: Session, demo: bool) -> None:
    if demo:
        seed_demo(session)
    else:
        seed_roles(session)
