"""API fuzzing: every operation of the OpenAPI document, as several callers, against a real server.

For each caller (anonymous, platform administrator, agency official, citizen, information system with
scopes) schemathesis generates requests from the document — valid ones and deliberately invalid ones — and
sends them over HTTP to the app served by Uvicorn. Every response must be free of server errors, carry a
status code the document declares for the operation, and a body that matches the declared schema.

The run is deterministic (a fixed seed) and shallow in CI: TINHSO_FUZZ_EXAMPLES examples per operation,
caller and mode (default 1). Raise it for a deeper run outside CI, e.g.
`TINHSO_FUZZ_EXAMPLES=50 .venv/bin/pytest tests/hardening/test_fuzz.py`; a deep run also fuzzes PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup

from tests.factories import CONGAN, TUPHAP, Factory
from tests.hardening.contract import CHECKS

EXAMPLES = int(os.environ.get("TINHSO_FUZZ_EXAMPLES", "1"))
DEEP = "TINHSO_FUZZ_EXAMPLES" in os.environ
SEED = int(os.environ.get("TINHSO_FUZZ_SEED", "4520"))
PARTS = 6  # the operations are fuzzed in this many tests, each well within the per-test timeout
SYSTEM_SCOPES = (
    "api",
    "data:*",
    "opendata:write",
    "governance:*",
    "ai:text",
    "exchange:*",
    "environment:*",
    "procedures:*",
)


def _callers(factory: Factory) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "platform_admin": factory.person(("platform_admin", "official"), agency=CONGAN).headers,
        "official": factory.person(("official", "agency_admin"), agency=TUPHAP).headers,
        "citizen": factory.citizen().headers,
        "system": factory.system(TUPHAP, scopes=SYSTEM_SCOPES).headers,
    }


@pytest.fixture
def fuzz_target(backend: str, request: pytest.FixtureRequest) -> tuple[str, Any]:
    if backend != "sqlite" and not DEEP:
        pytest.skip("the CI fuzz run uses SQLite; set TINHSO_FUZZ_EXAMPLES for a run on both databases")
    live_server = request.getfixturevalue("live_server")
    schema = schemathesis.openapi.from_dict(request.getfixturevalue("app").openapi())
    return live_server, schema


def _fuzz_operation(operation: Any, mode: GenerationMode, send: Callable[[Any], None]) -> None:
    strategy = operation.as_strategy(generation_mode=mode)

    @seed(SEED)
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        send(case)

    # Unsatisfiable: nothing to make invalid (an operation without parameters or body, in negative mode).
    with contextlib.suppress(Unsatisfiable):
        run()


@pytest.mark.parametrize("part", range(PARTS))
def test_every_operation_answers_within_its_contract(
    fuzz_target: tuple[str, Any], factory: Factory, part: int
) -> None:
    base_url, schema = fuzz_target
    callers = _callers(factory)
    failures: dict[str, str] = {}
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 150, "the document lists every module's operations"
    operations = operations[part::PARTS]

    def send(case: Any) -> None:
        # The same generated request is sent by every caller.
        for name, headers in callers.items():
            key = f"{name} {case.operation.label}"
            if key in failures:
                continue
            try:
                case.call_and_validate(base_url=base_url, session=session, headers=headers, checks=CHECKS)
            except (Exception, FailureGroup) as exc:  # collected, then reported together
                failures[key] = str(exc)[:2500]
            finally:
                session.cookies.clear()  # nothing one caller was given leaks to the next

    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, mode, send)
    report = "\n\n".join(f"### {key}\n{text}" for key, text in sorted(failures.items()))
    assert not failures, f"{len(failures)} operation(s) broke their contract:\n{report}"
