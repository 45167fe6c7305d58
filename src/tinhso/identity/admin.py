"""Bootstrapping a new installation: the first platform administrator."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tinhso.identity import repository as repo
from tinhso.identity.models import Person, RoleAssignment
from tinhso.kit import audit
from tinhso.kit.errors import NotFound
from tinhso.kit.security import hash_password


def ensure_platform_admin(
    session: Session, username: str, full_name: str, agency_code: str, password: str
) -> Person:
    """Create the account, or reset its password and roles if it exists; audited as a system action."""
    if repo.get_agency(session, agency_code) is None:
        raise NotFound("agency_not_found", "Agency {code} not found", code=agency_code)
    person = repo.get_person_by_username(session, username)
    if person is None:
        person = Person(username=username, full_name=full_name, agency_code=agency_code)
        person.roles = []
        session.add(person)
    person.password_hash = hash_password(password)
    person.active, person.failed_logins, person.locked_until = True, 0, None
    if "platform_admin" not in {r.role_code for r in person.roles}:
        person.roles.append(RoleAssignment(role_code="platform_admin"))
    session.flush()
    audit.record(
        session,
        "identity.platform_admin.ensure",
        object_type="person",
        object_id=person.id,
        detail={"username": username, "via": "cli"},
    )
    return person
