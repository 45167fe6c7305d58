"""Factories: people, systems and their tokens, made through the real services."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tinhso.identity import repository as repo
from tinhso.identity.auth import access_token_for
from tinhso.identity.models import ClientCredential, InformationSystem, Person, RoleAssignment
from tinhso.identity.principal import Principal
from tinhso.identity.service import principal_for_person, principal_for_system
from tinhso.kit.db import Database, new_id
from tinhso.kit.security import hash_password, hash_secret, new_secret

SKHCN = "000.00.02.H41"
TUPHAP = "000.00.05.H41"
CONGAN = "000.00.15.H41"
PASSWORD = "mật-khẩu-thử-nghiệm-1"


@dataclass
class Actor:
    """A principal with a ready bearer token."""

    principal: Principal
    token: str
    username: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return self.principal.id


class Factory:
    def __init__(self, db: Database):
        self.db = db

    def person(
        self,
        roles: tuple[str, ...] = ("official",),
        agency: str | None = TUPHAP,
        username: str | None = None,
        personal_id: str | None = None,
        full_name: str = "Nguyễn Văn Thử",
    ) -> Actor:
        username = username or f"u{new_id()[:10]}"
        with self.db.transaction() as session:
            person = Person(
                username=username,
                full_name=full_name,
                agency_code=agency,
                personal_id=personal_id,
                password_hash=hash_password(PASSWORD),
            )
            person.roles = [RoleAssignment(role_code=r) for r in roles]
            session.add(person)
            session.flush()
            principal = principal_for_person(session, person)
        return Actor(principal, access_token_for(self.db, principal), username=username)

    def citizen(self, personal_id: str | None = None, full_name: str = "Trần Thị Dân") -> Actor:
        return self.person(
            ("citizen",),
            agency=None,
            personal_id=personal_id
            or f"0401{new_id()[:8]}".translate(str.maketrans("abcdef", "123456"))[:12],
            full_name=full_name,
        )

    def system(
        self, agency: str = TUPHAP, code: str | None = None, scopes: tuple[str, ...] = ("api",)
    ) -> Actor:
        code = code or f"SYS{new_id()[:6].upper()}"
        secret = new_secret()
        with self.db.transaction() as session:
            system = repo.get_system_by_code(session, agency, code)
            if system is None:
                system = InformationSystem(code=code, agency_code=agency, name=f"Hệ thống {code}")
                session.add(system)
                session.flush()
            cred = ClientCredential(
                client_id=f"{code.lower()}-{new_id()[:8]}",
                system_id=system.id,
                secret_hash=hash_secret(secret),
                scopes=list(scopes),
            )
            session.add(cred)
            session.flush()
            principal = principal_for_system(system, cred)
        return Actor(
            principal, access_token_for(self.db, principal), client_id=cred.client_id, client_secret=secret
        )


@pytest.fixture
def factory(db: Database) -> Factory:
    return Factory(db)


@pytest.fixture
def platform_admin(factory: Factory) -> Actor:
    return factory.person(("platform_admin", "official"), agency=SKHCN)
