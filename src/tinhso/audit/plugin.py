"""Audit module hooks."""

from tinhso.audit.endpoints import router
from tinhso.kit import audit as _models  # noqa: F401

routers = [router]
