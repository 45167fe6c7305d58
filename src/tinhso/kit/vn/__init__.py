"""Vietnamese validators and normalisers: personal id (CCCD), tax code, phone, names, dates, addresses.

Each function returns a result that says whether the value was accepted, the normalised value, whether it was
changed ("fixed") and, when refused, a stable rule code with an English message (translated via the catalogs).
"""

from tinhso.kit.vn.address import AddressResult, to_commune_2025
from tinhso.kit.vn.dates import DateResult, parse_date
from tinhso.kit.vn.names import normalize_name
from tinhso.kit.vn.personal_id import PersonalIdResult, validate_personal_id
from tinhso.kit.vn.phone import normalize_phone
from tinhso.kit.vn.result import Check
from tinhso.kit.vn.tax import validate_tax_code

__all__ = [
    "AddressResult",
    "Check",
    "DateResult",
    "PersonalIdResult",
    "normalize_name",
    "normalize_phone",
    "parse_date",
    "to_commune_2025",
    "validate_personal_id",
    "validate_tax_code",
]
