"""Standardise and validate one row against a dictionary entity: the kit.vn normalisers, code lists, types, and
the cross-field rule that the personal id agrees with the birth date and sex."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import date
from typing import Any

from tinhso.kit.vn import (
    normalize_name,
    normalize_phone,
    parse_date,
    to_commune_2025,
    validate_personal_id,
    validate_tax_code,
)
from tinhso.kit.vn.result import Check


@dataclass
class Issue:
    field: str
    value: Any
    rule: str
    message: str
    params: dict[str, Any] = dc_field(default_factory=dict)
    severity: str = "error"  # error rejects the row, warning keeps it


@dataclass
class Outcome:
    row: dict[str, Any]
    issues: list[Issue]
    fixed: bool

    @property
    def ok(self) -> bool:
        return not any(i.severity == "error" for i in self.issues)


class Standardiser:
    """Built once per entity version (with its code lists), applied to every row."""

    def __init__(
        self, fields: list[dict[str, Any]], codelists: dict[str, set[str]], today: date | None = None
    ):
        self.fields = fields
        self.codelists = codelists
        self.today = today or date.today()

    def __call__(self, raw: dict[str, Any]) -> Outcome:
        out: dict[str, Any] = {}
        issues: list[Issue] = []
        fixed = False
        for spec in self.fields:
            name = spec["name"]
            value = raw.get(name)
            if isinstance(value, str):
                stripped = value.strip()
                fixed = fixed or stripped != value
                value = stripped or None
            if value is None:
                if spec.get("required"):
                    issues.append(
                        Issue(name, None, "required", "Required field {field} is empty", {"field": name})
                    )
                out[name] = None
                continue
            check = self._check(spec, value)
            if not check.ok:
                issues.append(Issue(name, value, check.rule or "invalid", check.message or "", check.params))
                out[name] = None
                continue
            if check.warning:
                issues.append(
                    Issue(name, value, check.rule or "warning", check.message or "", check.params, "warning")
                )
            fixed = fixed or check.fixed
            out[name] = check.value
        self._cross(out, issues)
        return Outcome(out, issues, fixed)

    def _check(self, spec: dict[str, Any], value: Any) -> Check:
        rule, t = spec.get("rule"), spec["type"]
        if rule == "personal_id":
            return validate_personal_id(value, today=self.today)
        if rule == "tax_code":
            return validate_tax_code(value)
        if rule == "phone":
            return normalize_phone(value)
        if rule == "name":
            return normalize_name(value)
        if rule == "commune" or spec.get("codelist") == "communes_2025":
            text = str(value).strip()
            if text in self.codelists.get("communes_2025", ()):
                return Check(True, text)
            result = to_commune_2025(text)
            if (
                result.ok
                and self.codelists.get("communes_2025")
                and result.value not in self.codelists["communes_2025"]
            ):
                return Check.fail(
                    "commune_outside_province",
                    "The commune {code} is not in this province",
                    code=result.value,
                )
            return result
        if t == "date" or rule == "date":
            return parse_date(value, max_date=self.today)
        if spec.get("codelist"):
            text = str(value).strip()
            allowed = self.codelists.get(spec["codelist"], set())
            if text in allowed:
                return Check(True, text)
            upper = text.upper()
            if upper in allowed:
                return Check(True, upper, True)
            return Check.fail(
                "codelist",
                "{value} is not in the code list {codelist}",
                value=text,
                codelist=spec["codelist"],
            )
        if t == "integer":
            try:
                number = (
                    float(str(value).replace(",", "").strip())
                    if not isinstance(value, int | float)
                    else value
                )
                if float(number) != int(number):
                    raise ValueError
                return Check(True, int(number), not isinstance(value, int))
            except (TypeError, ValueError):
                return Check.fail("integer", "{value} is not a whole number", value=value)
        if t == "number":
            try:
                return Check(
                    True, float(str(value).replace(",", ".")) if isinstance(value, str) else float(value)
                )
            except (TypeError, ValueError):
                return Check.fail("number", "{value} is not a number", value=value)
        if t == "boolean":
            text = str(value).strip().lower()
            if text in ("1", "true", "có", "co", "x", "yes"):
                return Check(True, True)
            if text in ("0", "false", "không", "khong", "no"):
                return Check(True, False)
            return Check.fail("boolean", "{value} is not yes or no", value=value)
        return Check(True, str(value))

    def _cross(self, row: dict[str, Any], issues: list[Issue]) -> None:
        pid, born, sex = row.get("personal_id"), row.get("birth_date"), row.get("sex")
        if pid and (born or sex):
            check = validate_personal_id(pid, born if isinstance(born, date) else None, sex, today=self.today)
            if not check.ok:
                issues.append(
                    Issue("personal_id", pid, check.rule or "invalid", check.message or "", check.params)
                )
                row["personal_id"] = None
