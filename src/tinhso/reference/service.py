"""Loading reference data (communes, agencies) from the files shipped with the package."""

from __future__ import annotations

import csv
from importlib import resources

from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.identity.service import agency_search_text
from tinhso.kit.errors import NotFound
from tinhso.kit.text import fold, nfc
from tinhso.reference import repository as repo
from tinhso.reference.models import Commune

TYPES = {"Xã": "xa", "Phường": "phuong", "Đặc khu": "dac_khu"}
TYPE_LABELS = {"xa": "Xã", "phuong": "Phường", "dac_khu": "Đặc khu"}


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("tinhso.reference").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_communes(session: Session, province_code: str = "40") -> int:
    """Insert or update the province's communes; returns how many there are."""
    count = 0
    for row in _rows("nghe_an_communes_2025.csv"):
        codes = row["merged_from_old_codes"].split(";") if row["merged_from_old_codes"] else []
        names = row["merged_from_old_names"].split(";") if row["merged_from_old_names"] else []
        name = nfc(row["commune_name"])
        commune = session.get(Commune, row["commune_code"]) or Commune(code=row["commune_code"])
        commune.name = name
        commune.type = TYPES[row["commune_type"]]
        commune.province_code = province_code
        commune.merged_from = [{"code": c, "name": nfc(n)} for c, n in zip(codes, names, strict=False)]
        commune.search_text = fold(" ".join([commune.code, name, *names]))
        session.add(commune)
        count += 1
    session.flush()
    return count


def load_agencies(session: Session) -> int:
    """Insert or update the provincial agencies and one UBND per commune (codes generated where unknown)."""
    count = 0
    for row in _rows("agencies.csv"):
        agency = session.get(Agency, row["code"]) or Agency(code=row["code"])
        agency.name, agency.name_en, agency.short_name = nfc(row["name"]), row["name_en"], row["short_name"]
        agency.kind, agency.parent_code = row["kind"], row["parent_code"] or None
        agency.code_generated = row["code_generated"] == "true"
        agency.search_text = agency_search_text(agency)
        session.add(agency)
        session.flush()
        count += 1
    communes: list[Commune] = list(session.scalars(repo.communes_statement("40")))
    for i, commune in enumerate(communes, start=1):
        code = f"{i:03d}.00.00.H41"
        agency = session.get(Agency, code) or Agency(code=code)
        agency.name = f"Ủy ban nhân dân {commune.name}"
        agency.name_en = f"People's Committee of {fold(commune.name).title()}"
        agency.short_name = f"UBND {commune.name}"
        agency.kind, agency.parent_code, agency.commune_code = "commune", "000.00.00.H41", commune.code
        agency.code_generated = True
        agency.search_text = agency_search_text(agency)
        session.add(agency)
        count += 1
    session.flush()
    return count


def commune_or_404(session: Session, code: str) -> Commune:
    commune = repo.get_commune(session, code)
    if commune is None:
        raise NotFound("commune_not_found", "Commune {code} not found", code=code)
    return commune
