"""Typed refusals of the open-data module (rendered as CKAN error objects on the Action API)."""

from __future__ import annotations

from typing import Any

from tinhso.kit.errors import BadRequest, Unprocessable


class ValidationFailed(Unprocessable):
    """Invalid input, with messages per field: CKAN's `Validation Error` (409 on the Action API)."""

    code = "opendata_invalid"
    message = "The data is not valid"

    def __init__(
        self, fields: dict[str, list[str]], code: str | None = None, message: str | None = None, **params: Any
    ):
        super().__init__(code, message, **params)
        self.fields = fields

    def body(self, request_id: str | None) -> dict[str, Any]:
        out = super().body(request_id)
        out["fields"] = self.fields
        return out


class SearchQueryError(BadRequest):
    """A malformed `q`, `fq` or `sort`: CKAN's `Search Query Error` (400)."""

    code = "opendata_bad_query"
    message = "The search query is not valid: {detail}"


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        {field: [message]}, "opendata_invalid", "Field {field}: {detail}", field=field, detail=message
    )
