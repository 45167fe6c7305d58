"""Every text of the portal and of sign-in has a Vietnamese translation in the gettext catalogs."""

from __future__ import annotations

from pathlib import Path

from jinja2.ext import babel_extract

import tinhso
from tinhso.identity.models import ROLES
from tinhso.identity.oidc import _KNOWN
from tinhso.kit.i18n import _catalog, gettext, languages
from tinhso.web.admin_systems import OUTCOMES
from tinhso.web.portal import LAYERS, MODULES

SRC = Path(tinhso.__file__).parent


def template_messages() -> set[str]:
    found: set[str] = set()
    for folder in (SRC / "web" / "templates", SRC / "identity" / "templates"):
        for path in folder.rglob("*.html"):
            with path.open("rb") as fh:
                for _, _, message, _ in babel_extract(fh, ("_",), [], {}):
                    parts = message if isinstance(message, tuple) else (message,)
                    found.update(m for m in parts if isinstance(m, str) and m)
    return found


def dynamic_messages() -> set[str]:
    found = {title for _, title in LAYERS}
    found |= {m.title for m in MODULES} | {m.description for m in MODULES}
    found |= set(ROLES) | {f"role:{r}" for r in ROLES} | set(OUTCOMES)
    found |= {"province", "department", "sector", "commune"}
    found |= {message for _, _, _, message in _KNOWN}
    return found


def test_every_portal_text_is_translated_to_vietnamese() -> None:
    messages = template_messages() | dynamic_messages()
    assert len(messages) > 150
    missing = sorted(m for m in messages if m not in _catalog("vi"))
    assert missing == []


def test_languages_come_from_catalog_folders() -> None:
    assert languages()[0] == "vi" and "en" in languages()
    assert gettext("Sign in", "vi") == "Đăng nhập" and gettext("Sign in", "en") == "Sign in"
