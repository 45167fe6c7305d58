"""The response contract the fuzzing enforces, usable on one response in a regression test."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def assert_conforms(app: Any, method: str, template: str, response: Any, **path_parameters: str) -> None:
    """Fail unless `response` (from TestClient) is what the OpenAPI document declares for the operation."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    case = schema[template][method].Case(path_parameters=path_parameters or None)
    case.validate_response(response, checks=CHECKS)
