"""X-Road style identifiers: members INSTANCE/CLASS/AGENCY/SYSTEM and services …/SERVICE[/VERSION].

Each part is percent-decoded separately; '/' never appears inside a part. Agency codes are the electronic
identifier codes of Decision 20/2020/QĐ-TTg (e.g. 000.00.15.H41).
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from dataclasses import dataclass

from tinhso.kit.errors import BadRequest

INSTANCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
CLASS_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,15}$")
AGENCY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-]{1,31}$")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
VERSION_RE = re.compile(r"^v[0-9]{1,3}(\.[0-9]{1,3}){0,2}$")
METASERVICES = ("listMethods", "allowedMethods", "getOpenAPI")
# Service codes a provider may not use: the metaservices and the GovStack pub/sub path prefixes.
RESERVED_CODES = frozenset({*METASERVICES, "api", "pub", "pull"})
MEMBER_CLASS = "GOV"


# Set per request from the application (two hubs may share a process in tests).
instance_var: ContextVar[str | None] = ContextVar("exchange_instance", default=None)


def local_instance() -> str:
    """This hub's X-Road instance code (TINHSO_EXCHANGE_INSTANCE, default VN)."""
    return instance_var.get() or os.environ.get("TINHSO_EXCHANGE_INSTANCE", "VN")


@dataclass(frozen=True)
class MemberId:
    instance: str
    member_class: str
    agency: str
    system: str

    def __str__(self) -> str:
        return f"{self.instance}/{self.member_class}/{self.agency}/{self.system}"

    def as_govstack(self) -> dict[str, str]:
        return {
            "object_type": "SUBSYSTEM",
            "xroad_instance": self.instance,
            "member_class": self.member_class,
            "member_code": self.agency,
            "subsystem_code": self.system,
        }


@dataclass(frozen=True)
class ServiceId:
    member: MemberId
    code: str
    version: str | None = None

    def __str__(self) -> str:
        return f"{self.member}/{self.code}" + (f"/{self.version}" if self.version else "")


def _check(value: str, pattern: re.Pattern[str], what: str) -> str:
    if not pattern.match(value):
        raise BadRequest(
            "invalid_identifier", "Malformed identifier part {part}: {value}", part=what, value=value
        )
    return value


def member(instance: str, member_class: str, agency: str, system: str) -> MemberId:
    return MemberId(
        _check(instance, INSTANCE_RE, "instance"),
        _check(member_class, CLASS_RE, "member class"),
        _check(agency, AGENCY_RE, "member code"),
        _check(system, CODE_RE, "subsystem code"),
    )


def parse_member(text: str) -> MemberId:
    """Parse 'VN/GOV/000.00.15.H41/DANCU'; BadRequest if malformed."""
    parts = (text or "").strip().split("/")
    if len(parts) != 4:
        raise BadRequest(
            "invalid_identifier", "A member identifier has the form INSTANCE/CLASS/MEMBER/SUBSYSTEM"
        )
    return member(*parts)


def parse_service(text: str) -> ServiceId:
    """Parse 'VN/GOV/<agency>/<system>/<code>[/<version>]'."""
    parts = (text or "").strip().split("/")
    if len(parts) not in (5, 6):
        raise BadRequest(
            "invalid_identifier",
            "A service identifier has the form INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]",
        )
    m = member(*parts[:4])
    version = _check(parts[5], VERSION_RE, "version") if len(parts) == 6 else None
    return ServiceId(m, _check(parts[4], CODE_RE, "service code"), version)


def local_member(agency: str, system: str) -> MemberId:
    return MemberId(local_instance(), MEMBER_CLASS, agency, system)
