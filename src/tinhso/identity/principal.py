"""Principal: the person or information system behind a request."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (official or citizen) or an agency's information system."""

    kind: str  # "person" or "system"
    id: str
    name: str
    agency_code: str | None
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    system_id: str | None = None
    personal_id: str | None = None
    credential_id: str | None = None

    @property
    def is_platform_admin(self) -> bool:
        return "platform_admin" in self.roles

    @property
    def is_system(self) -> bool:
        return self.kind == "system"

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles)) or self.is_platform_admin

    def has_scope(self, scope: str) -> bool:
        """Systems act only within their token's scopes; people are governed by roles instead."""
        if self.kind != "system":
            return True
        return scope in self.scopes or "*" in self.scopes or f"{scope.split(':')[0]}:*" in self.scopes
