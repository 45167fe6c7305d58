"""The authorisation matrix: who may call which route, and a runner for table-driven checks.

`AUDIENCE` classifies every route the application serves (method and path template):
- `Public(reason)`: public by nature, no credential needed (the reason says why);
- `OWN_AUTH`: the route checks a credential of its own (device secret, X-Road client, OIDC client) —
  an anonymous caller must still get nothing;
- `SIGNED_IN`: any signed-in caller, citizens included (each sees only its own data);
- `STAFF`: officials and agency systems; a citizen gets nothing;
- `ADMIN`: agency or platform administrators; a plain official gets nothing;
- `PLATFORM`: platform administrators only; an agency administrator gets nothing.
A route missing here fails `test_every_route_has_a_matrix_row`: add it with its audience (and, for a route
that touches agency or personal data, a data row in the module's `test_authz_<module>.py`).

`Row` is one expectation of a data matrix: caller, method, route template, status and what the body must and
must not contain; `run_rows` runs a table against one data set and reports every mismatch at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.factories import CONGAN, SKHCN, TUPHAP, Actor, Factory
from tinhso.kit.audit import AuditEntry
from tinhso.kit.db import Database
from tinhso.modules import plugins
from tinhso.web.routes import route_paths

AGENCY_A = TUPHAP
AGENCY_B = CONGAN
PROVINCE = SKHCN


@dataclass(frozen=True)
class Public:
    reason: str


OWN_AUTH = "own-auth"
SIGNED_IN = "signed-in"
STAFF = "staff"
ADMIN = "admin"
PLATFORM = "platform"

Audience = Public | str

_P_OPEN = Public("open data and its standard APIs (CKAN, DCAT, DataStore): public by nature")
_P_CAT = Public("public catalogue of administrative procedures")
_P_OPS = Public("liveness and readiness for the operator and the load balancer (no agency or personal data)")
_P_DOC = Public("API description")
_P_PORTAL = Public("public portal page; signed-in parts are checked by the data rows")
_P_AQ = Public("public air and water quality (stations flagged public only)")
_P_SIGNIN = Public("sign-in and OpenID Connect flows")
_P_REF = Public("reference data: agencies, communes, code lists, data dictionary")
_P_AI = Public("public AI transparency register and the public chatbot")

AUDIENCE: dict[str, Audience] = {
    # platform
    "GET /openapi.json": _P_DOC,
    "GET /docs": _P_DOC,
    "GET /healthz": _P_OPS,
    "GET /readyz": _P_OPS,
    "GET /metrics": OWN_AUTH,  # the monitoring network or the metrics token: traffic per client is agency data
    "GET /": _P_PORTAL,
    # identity
    "POST /auth/token": OWN_AUTH,
    "GET /.well-known/jwks.json": _P_SIGNIN,
    "GET /.well-known/openid-configuration": _P_SIGNIN,
    "GET /api/v1/me": SIGNED_IN,
    "GET /api/v1/agencies": _P_REF,
    "GET /api/v1/agencies/{code}": _P_REF,
    "POST /api/v1/agencies": PLATFORM,
    "PATCH /api/v1/agencies/{code}": ADMIN,
    "GET /api/v1/people": ADMIN,
    "POST /api/v1/people": ADMIN,
    "GET /api/v1/people/{person_id}": SIGNED_IN,
    "PATCH /api/v1/people/{person_id}": ADMIN,
    "GET /api/v1/systems": SIGNED_IN,
    "POST /api/v1/systems": ADMIN,
    "GET /api/v1/systems/{system_id}": SIGNED_IN,
    "GET /api/v1/systems/{system_id}/credentials": ADMIN,
    "POST /api/v1/systems/{system_id}/credentials": ADMIN,
    "POST /api/v1/systems/{system_id}/credentials/{credential_id}/revoke": ADMIN,
    "POST /api/v1/systems/{system_id}/credentials/{credential_id}/rotate": ADMIN,
    "GET /api/v1/grants": SIGNED_IN,
    "POST /api/v1/grants": ADMIN,
    "POST /api/v1/grants/{grant_id}/revoke": ADMIN,
    "GET /oidc/authorize": _P_SIGNIN,
    "POST /oidc/authorize": _P_SIGNIN,
    "POST /oidc/token": OWN_AUTH,
    "POST /oidc/userinfo": OWN_AUTH,
    "GET /oidc/userinfo": OWN_AUTH,
    "GET /signin": _P_SIGNIN,
    "GET /auth/callback": _P_SIGNIN,
    "POST /signout": _P_SIGNIN,
    "GET /api/v1/communes": _P_REF,
    "GET /api/v1/communes/{code}": _P_REF,
    "GET /api/v1/audit": ADMIN,
    "GET /api/v1/audit/verify": PLATFORM,
    "GET /api/v1/me/data-usage": SIGNED_IN,
    # administration pages
    "GET /admin": ADMIN,
    "GET /admin/agencies": ADMIN,
    "GET /admin/agencies/{code}": ADMIN,
    "POST /admin/agencies/{code}": ADMIN,
    "GET /admin/people": ADMIN,
    "GET /admin/people/new": ADMIN,
    "POST /admin/people/new": ADMIN,
    "GET /admin/people/{person_id}": ADMIN,
    "POST /admin/people/{person_id}": ADMIN,
    "POST /admin/people/{person_id}/unlock": ADMIN,
    "GET /admin/roles": ADMIN,
    "GET /admin/systems": ADMIN,
    "GET /admin/systems/new": ADMIN,
    "POST /admin/systems/new": ADMIN,
    "GET /admin/systems/{system_id}": ADMIN,
    "POST /admin/systems/{system_id}/credentials": ADMIN,
    "POST /admin/systems/{system_id}/credentials/{credential_id}/{action}": ADMIN,
    "GET /admin/audit": ADMIN,
    "POST /admin/audit/verify": PLATFORM,
    "GET /admin/oidc-clients": PLATFORM,
    "POST /admin/oidc-clients": PLATFORM,
    "POST /admin/oidc-clients/{client_id}/active": PLATFORM,
    # exchange
    "GET /api/v1/exchange/hub": Public("the hub's public signing key and identity (federation)"),
    "GET /api/v1/exchange/services": Public(
        "catalogue of exchange services; private ones filtered (data rows)"
    ),
    "POST /api/v1/exchange/services": STAFF,
    "GET /api/v1/exchange/services/{service_id}": Public(
        "catalogue entry; private ones filtered (data rows)"
    ),
    "GET /api/v1/exchange/services/{service_id}/openapi": Public("catalogue entry's interface description"),
    "PATCH /api/v1/exchange/services/{service_id}": STAFF,
    "POST /api/v1/exchange/services/{service_id}/lifecycle": STAFF,
    "POST /api/v1/exchange/access-requests": STAFF,
    "GET /api/v1/exchange/access-requests": SIGNED_IN,
    "GET /api/v1/exchange/access-requests/{request_id}": STAFF,
    "POST /api/v1/exchange/access-requests/{request_id}/decision": ADMIN,
    "POST /api/v1/exchange/access-requests/{request_id}/revoke": ADMIN,
    "GET /api/v1/exchange/grants": SIGNED_IN,
    "POST /api/v1/exchange/grants": ADMIN,
    "POST /api/v1/exchange/grants/{grant_id}/revoke": ADMIN,
    "GET /api/v1/exchange/peers": PLATFORM,
    "POST /api/v1/exchange/peers": PLATFORM,
    "POST /api/v1/exchange/event-types": STAFF,
    "GET /api/v1/exchange/event-types": SIGNED_IN,
    "GET /api/v1/exchange/event-types/{event_type_id}": STAFF,
    "POST /api/v1/exchange/event-types/{event_type_id}/events": STAFF,
    "GET /api/v1/exchange/events/{event_id}": STAFF,
    "POST /api/v1/exchange/subscriptions": STAFF,
    "GET /api/v1/exchange/subscriptions": SIGNED_IN,
    "POST /api/v1/exchange/subscriptions/{sub_id}/approve": STAFF,
    "POST /api/v1/exchange/subscriptions/{sub_id}/refuse": STAFF,
    "DELETE /api/v1/exchange/subscriptions/{sub_id}": STAFF,
    "GET /api/v1/exchange/subscriptions/{sub_id}/pull": STAFF,
    "DELETE /api/v1/exchange/subscriptions/{sub_id}/pull/{event_id}": STAFF,
    "GET /api/v1/exchange/subscriptions/{sub_id}/deliveries": STAFF,
    "POST /api/v1/exchange/deliveries/{delivery_id}/redeliver": STAFF,
    "GET /api/v1/exchange/stats": SIGNED_IN,
    "GET /exchange": Public("public catalogue page of exchange services"),
    "GET /exchange/services/{service_id}": Public("public catalogue page of one service"),
    "GET /exchange/operations": ADMIN,
    "ANY /r1/": OWN_AUTH,  # the gateway, a plain ASGI app ahead of routing (plugin hook `asgi_apps`)
    # data
    "GET /api/v1/data/entities": _P_REF,
    "GET /api/v1/data/entities/{code}": _P_REF,
    "GET /api/v1/data/entities/{code}/versions": _P_REF,
    "POST /api/v1/data/entities": ADMIN,
    "POST /api/v1/data/entities/{code}/versions": ADMIN,
    "GET /api/v1/data/codelists": _P_REF,
    "GET /api/v1/data/codelists/{code}": _P_REF,
    "GET /api/v1/registries/databases": SIGNED_IN,
    "GET /api/v1/registries/database/{code}": SIGNED_IN,
    "POST /api/v1/registries/database/modify": ADMIN,
    "DELETE /api/v1/registries/database/{code}": ADMIN,
    "GET /api/v1/registries/data/MyPersonalDataUsage/1.0": SIGNED_IN,
    "GET /api/v1/registries/data/{registry}/{version}": STAFF,
    "POST /api/v1/registries/data/{registry}/{version}/create": STAFF,
    "POST /api/v1/registries/data/{registry}/{version}/read": STAFF,
    "POST /api/v1/registries/data/{registry}/{version}/exists": STAFF,
    "PUT /api/v1/registries/data/{registry}/{version}/update": STAFF,
    "PUT /api/v1/registries/data/{registry}/{version}/update-entries": STAFF,
    "POST /api/v1/registries/data/{registry}/{version}/update-or-create": STAFF,
    "DELETE /api/v1/registries/data/{registry}/{version}/{key}/delete": STAFF,
    "GET /api/v1/registries/data/{registry}/{version}/{key}/read-value/{field}.{ext}": STAFF,
    "GET /api/v1/registries/data/{registry}/{version}/{key}/history": STAFF,
    "POST /api/v1/data/batches": STAFF,
    "GET /api/v1/data/batches": STAFF,
    "GET /api/v1/data/batches/{batch_id}": STAFF,
    "GET /api/v1/data/batches/{batch_id}/errors": STAFF,
    "GET /api/v1/warehouse/tables": STAFF,
    "POST /api/v1/warehouse/query": STAFF,
    "GET /api/v1/warehouse/queries": STAFF,
    "POST /api/v1/warehouse/queries": STAFF,
    "POST /api/v1/warehouse/queries/{query_id}/run": STAFF,
    "GET /api/v1/warehouse/tables/{table}/parquet": STAFF,
    "POST /api/v1/warehouse/linkage": STAFF,
    "GET /api/v1/data/quality": STAFF,
    "GET /du-lieu/tu-dien": _P_REF,
    "GET /du-lieu/tu-dien/{code}": _P_REF,
    "GET /du-lieu/chat-luong": Public("page shell; its figures come from the staff-only quality API"),
    "GET /du-lieu/phan-tich": Public("page shell; its queries go to the staff-only warehouse API"),
    "GET /du-lieu/cua-toi": Public("who used my data: the signed-in person's own entries, nothing to others"),
    "GET /du-lieu/nap": Public("page shell; uploads go to the staff-only batch API"),
    # open data
    "GET /api": _P_OPEN,
    "GET /api/3": _P_OPEN,
    "GET /api/action/{name}/": _P_OPEN,
    "POST /api/action/{name}/": _P_OPEN,
    "GET /api/3/action/{name}/": _P_OPEN,
    "POST /api/3/action/{name}/": _P_OPEN,
    "GET /api/action/{name}": _P_OPEN,
    "POST /api/action/{name}": _P_OPEN,
    "GET /api/3/action/{name}": _P_OPEN,
    "POST /api/3/action/{name}": _P_OPEN,
    "GET /catalog.{fmt}": _P_OPEN,
    "GET /dataset/{name}.{fmt}": _P_OPEN,
    "GET /opendata/download/{resource_id}.{fmt}": _P_OPEN,
    "GET /datastore/dump/{resource_id}": _P_OPEN,
    "GET /opendata/file/{resource_id}/{filename}": _P_OPEN,
    "POST /api/v1/opendata/tokens": SIGNED_IN,
    "GET /api/v1/opendata/tokens": SIGNED_IN,
    "DELETE /api/v1/opendata/tokens/{token_id}": SIGNED_IN,
    "GET /api/v1/opendata/sources": SIGNED_IN,
    "POST /api/v1/opendata/publications": STAFF,
    "POST /api/v1/opendata/publications/{pub_id}/refresh": STAFF,
    "GET /api/v1/opendata/datasets/{ref}/quality": _P_OPEN,
    "GET /opendata": _P_OPEN,
    "GET /opendata/datasets": _P_OPEN,
    "GET /opendata/dataset/{name}": _P_OPEN,
    "GET /opendata/organizations": _P_OPEN,
    "GET /opendata/organization/{name}": _P_OPEN,
    # procedures
    "GET /api/v1/procedures/catalog": _P_CAT,
    "GET /api/v1/procedures/catalog/export": _P_CAT,
    "POST /api/v1/procedures/catalog/import": PLATFORM,
    "GET /api/v1/procedures/catalog/{code}": _P_CAT,
    "GET /api/v1/procedures/calendar": Public("the province's working calendar (holidays)"),
    "PUT /api/v1/procedures/calendar": PLATFORM,
    "DELETE /api/v1/procedures/calendar/{day}": PLATFORM,
    "GET /api/v1/procedures/calendar/due": Public("due date arithmetic on the public calendar"),
    "POST /api/v1/procedures/dossiers": SIGNED_IN,
    "GET /api/v1/procedures/dossiers": SIGNED_IN,
    "GET /api/v1/procedures/dossiers/{code}": SIGNED_IN,
    "POST /api/v1/procedures/dossiers/{code}/transitions": SIGNED_IN,
    "POST /api/v1/procedures/dossiers/{code}/attachments": SIGNED_IN,
    "GET /api/v1/procedures/dossiers/{code}/attachments/{att_id}": SIGNED_IN,
    "POST /api/v1/procedures/dossiers/{code}/rating": SIGNED_IN,
    "POST /api/v1/procedures/dossiers/{code}/payments": SIGNED_IN,
    "POST /api/v1/procedures/dossiers/{code}/payments/check": SIGNED_IN,
    "POST /api/v1/procedures/payments/reconcile": PLATFORM,
    "POST /api/v1/procedures/payment-test-double/{ref}/settle": SIGNED_IN,
    "POST /api/v1/procedures/sweep": PLATFORM,
    "GET /api/v1/procedures/status/{code}": Public("dossier status by its code (no personal fields)"),
    "GET /api/v1/procedures/edata": SIGNED_IN,
    "POST /api/v1/procedures/edata": SIGNED_IN,
    "GET /api/v1/procedures/edata/access-log": SIGNED_IN,
    "GET /api/v1/procedures/edata/{doc_id}/content": SIGNED_IN,
    "DELETE /api/v1/procedures/edata/{doc_id}": SIGNED_IN,
    "GET /api/v1/procedures/prefill": SIGNED_IN,
    "GET /api/v1/procedures/results/{doc_id}": SIGNED_IN,
    "GET /api/v1/procedures/verify/{token}": Public(
        "verification of a signed result by its unguessable token"
    ),
    "GET /api/v1/procedures/verify/{token}/signature.p7s": Public("signature of a result, by its token"),
    "GET /api/v1/procedures/index766": STAFF,
    "GET /api/v1/procedures/index766/trace": STAFF,
    "GET /api/v1/procedures/index766.xlsx": STAFF,
    "GET /api/v1/procedures/sync/report": STAFF,
    "GET /api/v1/procedures/govstack/services": _P_CAT,
    "GET /api/v1/procedures/govstack/services/{serviceKey}": _P_CAT,
    "GET /api/v1/procedures/govstack/eForms/{key}": _P_CAT,
    "POST /api/v1/procedures/govstack/services/{serviceKey}/applications": SIGNED_IN,
    "GET /api/v1/procedures/govstack/applications": SIGNED_IN,
    "GET /api/v1/procedures/govstack/applications/{fileId}": SIGNED_IN,
    "GET /api/v1/procedures/govstack/tasks": SIGNED_IN,
    "GET /api/v1/procedures/govstack/tasks/{taskId}": SIGNED_IN,
    "POST /api/v1/procedures/govstack/tasks/{taskId}/complete": SIGNED_IN,
    "POST /api/v1/procedures/govstack/documents": SIGNED_IN,
    "GET /api/v1/procedures/govstack/data/statistics/1.0": SIGNED_IN,
    "GET /thu-tuc": _P_CAT,
    "GET /thu-tuc/{code}": _P_CAT,
    "GET /thu-tuc/{code}/nop": SIGNED_IN,
    "POST /thu-tuc/{code}/nop": SIGNED_IN,
    "GET /ho-so": SIGNED_IN,
    "GET /ho-so/{code}": SIGNED_IN,
    "POST /ho-so/{code}/thao-tac": SIGNED_IN,
    "POST /ho-so/{code}/tai-lieu": SIGNED_IN,
    "POST /ho-so/{code}/thanh-toan": SIGNED_IN,
    "GET /thanh-toan-thu/{ref}": Public(
        "checkout page of the payment platform's test double (no data shown)"
    ),
    "POST /thanh-toan-thu/{ref}": SIGNED_IN,
    "POST /ho-so/{code}/danh-gia": SIGNED_IN,
    "GET /tra-cuu": Public("dossier status look-up page"),
    "GET /kho-du-lieu": SIGNED_IN,
    "POST /kho-du-lieu": SIGNED_IN,
    "GET /can-bo/ho-so": SIGNED_IN,
    "GET /chi-so-766": SIGNED_IN,
    "GET /xac-thuc/{token}": Public("verification page of a signed result, by its token"),
    "POST /api/v1/procedures/feedback": SIGNED_IN,
    "POST /api/v1/procedures/organisations": SIGNED_IN,
    "GET /api/v1/procedures/organisations/mine": SIGNED_IN,
    "GET /api/v1/procedures/organisations/{code}/members": SIGNED_IN,
    "POST /api/v1/procedures/organisations/{code}/members": SIGNED_IN,
    "DELETE /api/v1/procedures/organisations/{code}/members/{person_id}": SIGNED_IN,
    "GET /phan-anh": Public("published answers to feedback; the signed-in person's own feedback only"),
    "POST /phan-anh": SIGNED_IN,
    "GET /phan-anh/{code}": SIGNED_IN,
    "POST /phan-anh/{code}/thao-tac": SIGNED_IN,
    "POST /phan-anh/{code}/danh-gia": SIGNED_IN,
    "GET /can-bo/phan-anh": SIGNED_IN,
    "GET /api/v1/procedures/feedback/published": Public("published answers to citizens' feedback"),
    "GET /api/v1/procedures/feedback": SIGNED_IN,
    "GET /api/v1/procedures/feedback/{code}": SIGNED_IN,
    "POST /api/v1/procedures/feedback/{code}/actions": SIGNED_IN,
    "POST /api/v1/procedures/feedback/{code}/rating": SIGNED_IN,
    # governance
    "GET /api/v1/governance/rules": STAFF,
    "GET /api/v1/governance/systems": STAFF,
    "POST /api/v1/governance/systems": STAFF,
    "GET /api/v1/governance/systems/{system_id}": STAFF,
    "PATCH /api/v1/governance/systems/{system_id}": STAFF,
    "GET /api/v1/governance/systems/{system_id}/compliance": STAFF,
    "POST /api/v1/governance/systems/{system_id}/compliance": STAFF,
    "GET /api/v1/governance/agencies/{agency_code}/compliance": STAFF,
    "GET /api/v1/governance/tasks": STAFF,
    "GET /api/v1/governance/tasks/{task_id}": STAFF,
    "GET /api/v1/governance/tasks/{task_id}/progress": STAFF,
    "POST /api/v1/governance/tasks/{task_id}/progress": STAFF,
    "GET /api/v1/governance/roadmap/report.{fmt}": STAFF,
    "GET /api/v1/kpis/report.{fmt}": STAFF,
    "GET /api/v1/governance/evidence/{file_id}": STAFF,
    "POST /api/v1/governance/tasks/{task_id}/evidence": STAFF,
    "GET /api/v1/kpis": STAFF,
    "GET /api/v1/kpis/export.csv": STAFF,
    "GET /api/v1/kpis/{code}/series": STAFF,
    "POST /api/v1/kpis/run": PLATFORM,
    "GET /api/v1/ioc/measures": STAFF,
    "GET /api/v1/ioc/communes": STAFF,
    "GET /api/v1/ioc/alerts": STAFF,
    "GET /governance": Public("redirects to the systems page, which checks the caller"),
    "GET /governance/systems": STAFF,
    "GET /governance/systems/new": ADMIN,
    "GET /governance/systems/{system_id}/edit": STAFF,
    "POST /governance/systems/{system_id}/edit": STAFF,
    "POST /governance/systems/new": STAFF,
    "GET /governance/systems/{system_id}": STAFF,
    "GET /governance/agencies/{agency_code}": STAFF,
    "GET /governance/roadmap": STAFF,
    "GET /governance/roadmap/report": STAFF,
    "GET /governance/roadmap/{code}": STAFF,
    "POST /governance/roadmap/{code}/progress": STAFF,
    "GET /ioc": STAFF,
    "GET /ioc/alerts": STAFF,
    "GET /ioc/agency/{agency_code}": STAFF,
    "GET /ioc/commune/{commune_code}": STAFF,
    "GET /ioc/report": STAFF,
    "GET /ioc/sparklines": STAFF,
    "GET /ioc/alerts/stream": STAFF,
    # environment
    "GET /api/v1/environment/stations": SIGNED_IN,
    "POST /api/v1/environment/stations": STAFF,
    "GET /api/v1/environment/stations/{station_id}": SIGNED_IN,
    "PATCH /api/v1/environment/stations/{station_id}": STAFF,
    "GET /api/v1/environment/stations/{station_id}/devices": STAFF,
    "POST /api/v1/environment/stations/{station_id}/devices": STAFF,
    "PATCH /api/v1/environment/stations/{station_id}/devices/{device_id}": STAFF,
    "GET /api/v1/environment/stations/{station_id}/devices/{device_id}/credentials": STAFF,
    "POST /api/v1/environment/stations/{station_id}/devices/{device_id}/credentials": STAFF,
    "POST /api/v1/environment/stations/{station_id}/devices/{device_id}/credentials/{credential_id}/revoke": (
        STAFF
    ),
    "POST /api/v1/environment/ingest": OWN_AUTH,
    "GET /api/v1/environment/stations/{station_id}/readings": SIGNED_IN,
    "GET /api/v1/environment/stations/{station_id}/hourly": SIGNED_IN,
    "GET /api/v1/environment/stations/{station_id}/indices": SIGNED_IN,
    "GET /api/v1/environment/alerts": SIGNED_IN,
    "GET /api/v1/environment/alerts/{alert_id}": SIGNED_IN,
    "POST /api/v1/environment/alerts/{alert_id}/acknowledge": STAFF,
    "POST /api/v1/environment/alerts/{alert_id}/resolve": STAFF,
    "GET /api/v1/environment/duty": ADMIN,
    "POST /api/v1/environment/duty": ADMIN,
    "DELETE /api/v1/environment/duty/{duty_id}": ADMIN,
    "GET /api/v1/environment/public/stations": _P_AQ,
    "GET /api/v1/environment/public/stations/{code}/series": _P_AQ,
    "GET /api/v1/environment/public/categories": _P_AQ,
    "GET /api/v1/environment/open-data/daily": _P_AQ,
    "POST /ngsi-ld/v1/entities": OWN_AUTH,
    "PATCH /ngsi-ld/v1/entities/{entity_id}/attrs": OWN_AUTH,
    "GET /ngsi-ld/v1/entities": _P_AQ,
    "GET /ngsi-ld/v1/entities/{entity_id}": _P_AQ,
    "GET /environment": _P_AQ,
    "GET /environment/stations/{code}": _P_AQ,
    "GET /environment/duty": SIGNED_IN,
    "POST /environment/duty/alerts/{alert_id}/{action}": STAFF,
    # assistant
    "POST /api/v1/ai/text/normalize": SIGNED_IN,
    "POST /api/v1/ai/text/restore-diacritics": SIGNED_IN,
    "POST /api/v1/ai/text/segment": SIGNED_IN,
    "POST /api/v1/ai/text/keywords": SIGNED_IN,
    "POST /api/v1/ai/text/classify-feedback": SIGNED_IN,
    "POST /api/v1/ai/assistant/ask": _P_AI,
    "POST /api/v1/assistant/ask": _P_AI,
    "GET /api/v1/ai/assistant/sessions/{session_id}": Public(
        "a conversation by its unguessable id; signed-in callers see only their own turns (data rows)"
    ),
    "GET /api/v1/ai/assistant/answers": ADMIN,
    "POST /api/v1/ai/assistant/reindex": PLATFORM,
    "POST /api/v1/ai/documents": STAFF,
    "POST /api/v1/ai/documents/upload": STAFF,
    "GET /api/v1/ai/documents": STAFF,
    "GET /api/v1/ai/documents/{doc_id}": STAFF,
    "DELETE /api/v1/ai/documents/{doc_id}": STAFF,
    "GET /api/v1/ai/systems": _P_AI,
    "GET /api/v1/ai/systems/{system_id}": _P_AI,
    "POST /api/v1/ai/systems": ADMIN,
    "PATCH /api/v1/ai/systems/{system_id}": ADMIN,
    "DELETE /api/v1/ai/systems/{system_id}": ADMIN,
    "GET /api/v1/ai/faq": ADMIN,
    "POST /api/v1/ai/faq": ADMIN,
    "GET /api/v1/ai/faq/{faq_id}": ADMIN,
    "PATCH /api/v1/ai/faq/{faq_id}": ADMIN,
    "DELETE /api/v1/ai/faq/{faq_id}": ADMIN,
    "GET /tro-ly-ao": _P_AI,
    "GET /minh-bach-ai": _P_AI,
    "GET /admin/ai-register": ADMIN,
    "GET /admin/ai-register/new": ADMIN,
    "POST /admin/ai-register/new": ADMIN,
    "GET /admin/ai-register/{system_id}": ADMIN,
    "POST /admin/ai-register/{system_id}": ADMIN,
}


def served_routes(app: Any) -> set[str]:
    """Every "METHOD /path" the application routes (HEAD and OPTIONS aside; static files aside), and
    "ANY /prefix/" for each plain ASGI app a module serves ahead of routing."""
    found = set()
    for path, methods in route_paths(app).items():
        if path == "/static":
            continue
        for method in methods - {"HEAD", "OPTIONS"}:
            found.add(f"{method} {path}")
    for _, plugin in plugins():
        found |= {f"ANY {prefix}" for prefix in getattr(plugin, "asgi_apps", {})}
    return found


def dummy_url(path: str) -> str:
    """A path template with every parameter filled by a value that names nothing."""
    if path.endswith("/"):
        path += "VN/GOV/000.00.05.H41/X/x/v1/y"
    path = re.sub(r"\{[^}]*:path\}", "x/y", path)
    fixed = {"ext": "json", "fmt": "json", "version": "1.0"}
    return re.sub(r"\{([^}:]*)\}", lambda m: fixed.get(m.group(1), f"zz{m.group(1)}0"), path)


# ------------------------------------------------------------------------------------------- callers


@dataclass
class Callers:
    """The cast of every matrix: a citizen, officials and administrators of A and B, systems, nobody."""

    citizen: Actor
    citizen2: Actor
    a: Actor
    a_admin: Actor
    b: Actor
    b_admin: Actor
    sys_a: Actor
    sys_a_bare: Actor
    sys_b: Actor
    admin: Actor

    def get(self, name: str) -> Actor | None:
        return None if name == "anon" else getattr(self, name)


def make_callers(
    factory: Factory,
    system_scopes: tuple[str, ...] = ("api",),
    agency_a: str = AGENCY_A,
    agency_b: str = AGENCY_B,
) -> Callers:
    return Callers(
        citizen=factory.citizen(full_name="Lê Văn Công Dân"),
        citizen2=factory.citizen(full_name="Phạm Thị Khác"),
        a=factory.person(("official",), agency=agency_a, full_name="Cán Bộ A"),
        a_admin=factory.person(("official", "agency_admin"), agency=agency_a, full_name="Quản Trị A"),
        b=factory.person(("official",), agency=agency_b, full_name="Cán Bộ B"),
        b_admin=factory.person(("official", "agency_admin"), agency=agency_b, full_name="Quản Trị B"),
        sys_a=factory.system(agency_a, scopes=system_scopes),
        sys_a_bare=factory.system(agency_a, scopes=()),
        sys_b=factory.system(agency_b, scopes=system_scopes),
        admin=factory.person(("platform_admin", "official"), agency=PROVINCE, full_name="Quản Trị Tỉnh"),
    )


# ---------------------------------------------------------------------------------------------- rows

Status = int | tuple[int, ...]


@dataclass(frozen=True)
class Row:
    """One expectation: `caller` calls `method route` (template filled from the data set) and gets `status`.

    `has` and `lacks` are text (filled from the data set) the body must and must not contain; `total` is the
    expected `total` of a page; `audit` names the person whose personal data the answer carries: an audit
    entry for that subject, by that caller, with a purpose, must have been written by the call.
    """

    caller: str
    method: str
    route: str
    status: Status
    has: tuple[str, ...] = ()
    lacks: tuple[str, ...] = ()
    total: int | None = None
    audit: str | None = None
    json: Any = None
    data: dict[str, Any] | None = None
    query: str = ""
    headers: dict[str, str] | None = None
    check: Callable[[Any], bool] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return f"{self.method} {self.route}"


def rows_for(route: str, expect: dict[str, Status], *, method: str = "GET", **kw: Any) -> list[Row]:
    """Rows for one route: {caller: status}, with the same body expectations for each successful caller."""
    out = []
    for caller, status in expect.items():
        ok = status in (200, 201, 204) if isinstance(status, int) else False
        out.append(
            Row(
                caller,
                method,
                route,
                status,
                **(kw if ok else {k: v for k, v in kw.items() if k in ("json", "data", "query")}),
            )
        )
    return out


def _fill(text: str, ctx: dict[str, str]) -> str:
    return re.sub(r"\{([^}:]+)\}", lambda m: str(ctx.get(m.group(1), m.group(0))), text)


def _audit_seq(db: Database) -> int:
    with db.session() as session:
        return int(session.scalar(select(func.coalesce(func.max(AuditEntry.seq), 0))) or 0)


def _audited(db: Database, since: int, actor: Actor | None, subject: str) -> bool:
    with db.session() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.seq > since)).all()
    return any(
        e.subject_id == subject and (e.purpose or "").strip() and (actor is None or e.actor_id == actor.id)
        for e in entries
    )


def run_rows(
    client: TestClient, db: Database, callers: Callers, rows: Iterable[Row], ctx: dict[str, str]
) -> None:
    """Run every row; fail once, listing every row whose answer was not the expected one."""
    failures: list[str] = []
    for row in rows:
        actor = callers.get(row.caller)
        url = _fill(row.route, ctx) + (("?" + _fill(row.query, ctx)) if row.query else "")
        before = _audit_seq(db) if row.audit else 0
        body = _fill_json(row.json, ctx) if row.json is not None else None
        response = client.request(
            row.method,
            url,
            headers=(actor.headers if actor else {}) | _fill_json(row.headers or {}, ctx),
            json=body,
            data=_fill_json(row.data, ctx) if row.data is not None else None,
            follow_redirects=False,
        )
        expected = row.status if isinstance(row.status, tuple) else (row.status,)
        label = f"{row.caller:>10} {row.method} {url}"
        if response.status_code not in expected:
            failures.append(
                f"{label}: {response.status_code} (expected {row.status}) {response.text[:160]!r}"
            )
            continue
        text = response.text
        for needle in row.has:
            if _fill(needle, ctx) not in text:
                failures.append(f"{label}: body lacks {_fill(needle, ctx)!r}")
        for needle in row.lacks:
            if _fill(needle, ctx) in text:
                failures.append(f"{label}: body leaks {_fill(needle, ctx)!r}")
        if row.total is not None and response.json().get("total") != row.total:
            failures.append(f"{label}: total {response.json().get('total')} (expected {row.total})")
        if row.check is not None and not row.check(response):
            failures.append(f"{label}: check failed {text[:160]!r}")
        if row.audit and not _audited(db, before, actor, _fill(row.audit, ctx)):
            failures.append(f"{label}: personal data returned without an audit entry with a purpose")
    assert not failures, "authorisation matrix mismatches:\n" + "\n".join(failures)


def _fill_json(value: Any, ctx: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _fill(value, ctx)
    if isinstance(value, dict):
        return {k: _fill_json(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_json(v, ctx) for v in value]
    return value


def covered(*tables: Iterable[Row]) -> set[str]:
    return {row.key for table in tables for row in table}
