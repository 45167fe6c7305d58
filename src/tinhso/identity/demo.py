"""Demo accounts and system clients for Nghệ An (passwords are random and written to var/, never to the repo)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tinhso.identity import repository as repo
from tinhso.identity.models import ROLES, ClientCredential, InformationSystem, Person, Role, RoleAssignment
from tinhso.kit import democreds
from tinhso.kit.db import new_id
from tinhso.kit.security import hash_password, hash_secret, new_secret

ROLE_LABELS = {
    "citizen": ("Công dân", "Citizen"),
    "official": ("Cán bộ, công chức", "Official"),
    "agency_admin": ("Quản trị cơ quan", "Agency administrator"),
    "leader": ("Lãnh đạo", "Leader"),
    "platform_admin": ("Quản trị nền tảng", "Platform administrator"),
}

SKHCN = "000.00.02.H41"
# username, full name, agency, roles, personal id
DEMO_PEOPLE = [
    ("admin", "Quản trị Nền tảng", SKHCN, ["platform_admin", "official"], None),
    ("skhcn.admin", "Nguyễn Văn Quản", SKHCN, ["agency_admin", "official"], None),
    ("lanhdao", "Trần Thị Lãnh Đạo", "000.00.00.H41", ["leader", "official"], None),
    ("canbo.tuphap", "Lê Văn Tư", "000.00.05.H41", ["official"], None),
    ("tuphap.admin", "Phạm Thị Pháp", "000.00.05.H41", ["agency_admin", "official"], None),
    ("canbo.congan", "Hoàng Văn An", "000.00.15.H41", ["official"], None),
    ("canbo.xa", "Võ Thị Xã", "001.00.00.H41", ["official"], None),
    ("congdan", "Nguyễn Thị Hoa", None, ["citizen"], "040190001234"),
    ("congdan2", "Hồ Văn Bình", None, ["citizen"], "040085004321"),
]
# agency, code, name, scopes
DEMO_SYSTEMS = [
    (SKHCN, "LGSP", "Nền tảng tích hợp, chia sẻ dữ liệu tỉnh (LGSP)", ["api", "exchange"]),
    ("000.00.01.H41", "TTHC", "Hệ thống thông tin giải quyết TTHC tỉnh", ["api", "exchange"]),
    ("000.00.15.H41", "DANCU", "Phân hệ dân cư Công an tỉnh", ["api", "exchange"]),
    ("000.00.06.H41", "DATDAI", "Cơ sở dữ liệu đất đai", ["api", "exchange"]),
]


def seed_roles(session: Session) -> None:
    for code in ROLES:
        vi, en = ROLE_LABELS[code]
        role = session.get(Role, code) or Role(code=code)
        role.name_vi, role.name_en = vi, en
        session.add(role)
    session.flush()


def seed_demo(session: Session) -> None:
    """Create the demo accounts and system clients, reusing passwords already written to var/."""
    saved = democreds.load()
    for username, full_name, agency, roles, pid in DEMO_PEOPLE:
        password = saved.get("people", {}).get(username, {}).get("password") or new_secret(9)
        person = repo.get_person_by_username(session, username)
        if person is None:
            person = Person(username=username, full_name=full_name, agency_code=agency, personal_id=pid)
            person.roles = [RoleAssignment(role_code=r) for r in roles]
            session.add(person)
        person.password_hash = hash_password(password)
        person.active, person.failed_logins, person.locked_until = True, 0, None
        session.flush()
        democreds.record(
            "people",
            username,
            {
                "password": password,
                "full_name": full_name,
                "agency_code": agency,
                "roles": roles,
                "person_id": person.id,
            },
        )
    for agency, code, name, scopes in DEMO_SYSTEMS:
        system = repo.get_system_by_code(session, agency, code)
        if system is None:
            system = InformationSystem(code=code, agency_code=agency, name=name)
            session.add(system)
            session.flush()
        entry = saved.get("systems", {}).get(code, {})
        cred = session.scalar(
            select(ClientCredential).where(ClientCredential.client_id == entry.get("client_id"))
        )
        if cred is None or cred.revoked_at is not None:
            secret = new_secret()
            cred = ClientCredential(
                client_id=f"{code.lower()}-{new_id()[:12]}",
                system_id=system.id,
                secret_hash=hash_secret(secret),
                scopes=scopes,
            )
            session.add(cred)
            session.flush()
            entry = {"client_id": cred.client_id, "client_secret": secret}
        democreds.record(
            "systems",
            code,
            entry | {"system_id": system.id, "agency_code": agency, "name": name, "scopes": scopes},
        )
