"""Reference module hooks: commune API and the loading of communes and agencies."""

from sqlalchemy.orm import Session

from tinhso.reference import models as _models  # noqa: F401
from tinhso.reference.endpoints import router
from tinhso.reference.service import load_agencies, load_communes

routers = [router]


def seed(session: Session, demo: bool) -> None:
    if not demo:
        load_communes(session)
        load_agencies(session)
