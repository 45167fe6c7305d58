"""Governance pages: the registry (`pages_registry`), the roadmap (`pages_roadmap`) and the IOC (`pages_ioc`)."""

from fastapi import APIRouter

from tinhso.governance import pages_ioc, pages_registry, pages_roadmap

router = APIRouter(include_in_schema=False)
for _part in (pages_registry, pages_roadmap, pages_ioc):
    router.include_router(_part.router)
