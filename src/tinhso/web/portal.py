"""What the home page tells about the platform: its modules, by the framework's four layers.

A module's entry links to its own page only if the running app serves it: the plugin may name it with
`home_page = "/path"`; otherwise `/<module>` is used when it exists. Nothing links to a page that 404s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinhso.identity.principal import Principal
from tinhso.modules import plugins
from tinhso.web.routes import route_paths

# Message ids are English; web.po holds the Vietnamese.
LAYERS = [
    ("I", "Digital infrastructure and cyber security"),
    ("II", "Data and core platforms"),
    ("III", "Shared applications and operations"),
    ("IV", "Interaction channels and performance measurement"),
]


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    layer: str
    title: str
    description: str
    admin_only: bool = False
    fallback: str | None = None  # a page of another kind that always exists (API, admin)


MODULES = [
    ModuleInfo(
        "identity",
        "I",
        "Identity and sign-in",
        "Agencies, people, roles and the agencies' information systems; OpenID Connect sign-in and "
        "OAuth2 tokens for systems.",
        fallback="/admin",
        admin_only=True,
    ),
    ModuleInfo(
        "audit",
        "I",
        "Audit log",
        "Every write, sign-in and read of personal data, chained by hashes so that nobody can alter it unseen.",
        fallback="/admin/audit",
        admin_only=True,
    ),
    ModuleInfo(
        "reference",
        "II",
        "Reference data",
        "The 130 communes of Nghệ An since 2025 and the units they were formed from; the province's agencies.",
        fallback="/api/v1/communes",
    ),
    ModuleInfo(
        "exchange",
        "II",
        "Integration and data sharing (LGSP)",
        "Service catalog, access rights, the secure gateway between agencies' systems, message log and "
        "publish/subscribe.",
    ),
    ModuleInfo(
        "data",
        "II",
        "Shared data",
        "Data dictionary, shared registries, the data warehouse and data quality.",
    ),
    ModuleInfo(
        "opendata",
        "II",
        "Open data",
        "The province's open datasets, with a CKAN-compatible API and DCAT metadata.",
    ),
    ModuleInfo(
        "procedures",
        "III",
        "Administrative procedures",
        "Procedures, dossiers and their status, the e-data store and the service index.",
    ),
    ModuleInfo(
        "governance",
        "III",
        "Governance and operations",
        "Registry of information systems, the roadmap, KPIs and the operations centre (IOC).",
    ),
    ModuleInfo(
        "environment",
        "III",
        "Environmental monitoring",
        "Air and water monitoring stations, AQI and WQI, and alerts.",
    ),
    ModuleInfo(
        "assistant",
        "III",
        "Virtual assistant",
        "Vietnamese text services and a virtual assistant for citizens and officials.",
    ),
    ModuleInfo(
        "web",
        "IV",
        "Portal",
        "This portal, in Vietnamese and English, accessible, with secure sessions.",
        fallback="/",
    ),
]


def module_cards(app: Any, principal: Principal | None) -> list[dict[str, Any]]:
    """The home page's sections: each layer with its modules, the installed ones linked to their page."""
    paths = {p for p, methods in route_paths(app).items() if "GET" in methods and "{" not in p}
    installed = {name: plugin for name, plugin in plugins()}
    is_admin = principal is not None and principal.has_role("agency_admin")
    sections = []
    for code, title in LAYERS:
        items = []
        for info in (m for m in MODULES if m.layer == code):
            plugin = installed.get(info.name)
            link = None
            if plugin is not None:
                own = getattr(plugin, "home_page", None) or f"/{info.name}"
                if own in paths:
                    link = own
                elif info.fallback in paths and (is_admin or not info.admin_only):
                    link = info.fallback
            items.append({"info": info, "installed": plugin is not None, "link": link})
        sections.append({"code": code, "title": title, "modules": items})
    return sections
