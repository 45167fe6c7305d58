"""Open-data module hooks: the CKAN Action API, DCAT, portal pages, seeding, refresh of publications, KPIs."""

from sqlalchemy.orm import Session

from tinhso.opendata import models as _models  # noqa: F401
from tinhso.opendata.ckan.api import router as ckan_router
from tinhso.opendata.endpoints import router as api_router

routers = [ckan_router, api_router]
reference_tables = ("opendata_organization", "opendata_group")


def seed(session: Session, demo: bool) -> None:
    from tinhso.opendata import demo as demo_data

    if demo:
        demo_data.seed_demo(session)
    else:
        demo_data.seed_reference(session)
