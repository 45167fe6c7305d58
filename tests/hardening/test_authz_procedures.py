"""Authorisation matrix of procedures: dossiers, their documents, GovStack views and pages.

One data set (a citizen's judicial-record dossier at agency A, with an attachment) and every caller.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.factories import Factory
from tests.hardening.authz_support import Row, make_callers, rows_for, run_rows
from tinhso.kit.db import Database

LLTP = "2.000488"  # judicial record certificate, handled by agency A (Sở Tư pháp)
D = "/api/v1/procedures/dossiers"
G = "/api/v1/procedures/govstack"
NO = (403, 404)

ROWS: list[Row] = [
    # the dossier list: own dossiers, or the agency's queue; never another agency's
    *rows_for(D, {"citizen": 200}, has=("{code}",)),
    *rows_for(D, {"a": 200, "admin": 200}, has=("{code}", "{name}"), audit="{person}"),
    *rows_for(D, {"citizen2": 200, "b": 200}, lacks=("{code}", "{name}"), total=0),
    *rows_for(D, {"b": 403}, query="agency_code={agency_a}"),
    Row("sys_a", "GET", D, 403),
    Row("anon", "GET", D, 401),
    # one dossier: the applicant and agency A only; officials' reads are audited with their purpose
    *rows_for(D + "/{code}", {"citizen": 200}, has=("{pid}",)),
    *rows_for(D + "/{code}", {"a": 200, "admin": 200}, has=("{pid}",), audit="{person}"),
    *rows_for(D + "/{code}", {"citizen2": NO, "b": NO, "b_admin": NO, "sys_b": NO, "anon": 401}),
    # changing it: nobody outside agency A (or the applicant, for the applicant's actions)
    *[
        Row(c, "POST", D + "/{code}/transitions", NO, json={"action": "assign", "version": 1})
        for c in ("citizen2", "b", "b_admin", "sys_b")
    ],
    *[Row(c, "POST", D + "/{code}/rating", NO, json={"rating": 1}) for c in ("citizen2", "b", "b_admin")],
    *[Row(c, "POST", D + "/{code}/payments", NO) for c in ("citizen2", "b")],
    *[Row(c, "POST", D + "/{code}/payments/check", NO) for c in ("citizen2", "b")],
    *rows_for(D + "/{code}/attachments/{att}", {"citizen": 200}),
    *rows_for(D + "/{code}/attachments/{att}", {"a": 200}, audit="{person}"),
    *rows_for(D + "/{code}/attachments/{att}", {"citizen2": NO, "b": NO, "anon": 401}),
    # public status: no personal field
    *rows_for(
        "/api/v1/procedures/status/{code}",
        {"anon": 200, "b": 200},
        has=("{code}",),
        lacks=("{name}", "{pid}"),
    ),
    # GovStack views of the same dossiers
    *rows_for(G + "/applications", {"citizen": 200}, has=("{code}",)),
    *rows_for(G + "/applications", {"a": 200}, has=("{code}",), audit="{person}"),
    *rows_for(G + "/applications", {"citizen2": 200, "b": 200}, lacks=("{code}", "{pid}")),
    *rows_for(G + "/applications/{code}", {"a": 200}, has=("{pid}",), audit="{person}"),
    *rows_for(G + "/applications/{code}", {"citizen2": NO, "b": NO, "anon": 401}),
    *rows_for(G + "/tasks", {"a": 200}, has=("{code}",)),
    *rows_for(G + "/tasks", {"b": 200, "citizen2": 200}, lacks=("{code}",)),
    *rows_for(G + "/tasks/{code}:assign", {"b": NO, "citizen2": NO}),
    *[
        Row(c, "POST", G + "/tasks/{code}:assign/complete", NO, json={"version": 1})
        for c in ("b", "citizen2")
    ],
    Row("b", "GET", G + "/data/statistics/1.0", 200, check=lambda r: r.json()["total"] == 0),
    Row("a", "GET", G + "/data/statistics/1.0", 200, check=lambda r: r.json()["total"] == 1),
    Row("citizen2", "GET", G + "/data/statistics/1.0", 200, check=lambda r: r.json()["total"] == 0),
    # pages
    *rows_for("/ho-so/{code}", {"citizen": 200}, has=("{code}",)),
    *rows_for("/ho-so/{code}", {"a": 200}, has=("{code}",), audit="{person}"),
    *rows_for("/ho-so/{code}", {"citizen2": NO, "b": NO}),
    *rows_for("/ho-so", {"citizen": 200}, has=("{code}",)),
    *rows_for("/ho-so", {"citizen2": 200, "b": 200}, lacks=("{code}",)),
    *rows_for("/can-bo/ho-so", {"a": 200}, has=("{code}", "{name}"), audit="{person}"),
    *rows_for(
        "/can-bo/ho-so", {"b": 200, "citizen2": 200, "citizen": (200, 403)}, lacks=("{code}", "{name}")
    ),
    *[
        Row(c, "POST", "/ho-so/{code}/thao-tac", NO, data={"action": "assign", "version": "1"})
        for c in ("b", "citizen2")
    ],
    *[Row(c, "POST", "/ho-so/{code}/thanh-toan", NO) for c in ("b", "citizen2")],
    *[Row(c, "POST", "/ho-so/{code}/danh-gia", NO, data={"rating": "1"}) for c in ("b", "citizen2")],
    # reports: an agency's administrator sees its own agency's figures; leaders (and the platform) see all
    *rows_for(
        "/api/v1/procedures/sync/report",
        {"a_admin": 200, "admin": 200},
        query="period={period}",
        has=("{code}",),
        check=lambda r: r.json()["received"] == 1,
    ),
    *rows_for(
        "/api/v1/procedures/sync/report",
        {"b_admin": 200},
        query="period={period}",
        lacks=("{code}",),
        check=lambda r: r.json()["received"] == 0,
    ),
    *rows_for("/api/v1/procedures/sync/report", {"a": 403, "citizen": 403}, query="period={period}"),
    *rows_for(
        "/api/v1/procedures/index766/trace",
        {"b": 403},
        query="period={period}&indicator=1.1&agency={agency_a}",
    ),
    # pre-filling a form: only the caller's own data
    *rows_for(
        "/api/v1/procedures/prefill", {"citizen2": 200}, query="procedure_code=" + LLTP, lacks=("{pid}",)
    ),
]

# After the dossier is signed: its result, and the citizen's own e-data store
RESULT_ROWS: list[Row] = [
    *rows_for("/api/v1/procedures/results/{result}", {"citizen": 200}),
    *rows_for("/api/v1/procedures/results/{result}", {"a": 200}, audit="{person}"),
    *rows_for("/api/v1/procedures/results/{result}", {"citizen2": NO, "b": NO, "b_admin": NO, "anon": 401}),
    *rows_for("/api/v1/procedures/edata", {"citizen": 200}, has=("{doc}", "{result}")),
    *rows_for("/api/v1/procedures/edata", {"citizen2": 200}, lacks=("{doc}", "{result}")),
    *rows_for("/api/v1/procedures/edata", {"a": (200, 403), "b": (200, 403)}, lacks=("{doc}",)),
    *rows_for("/api/v1/procedures/edata/{doc}/content", {"citizen": 200}, has=("AUTHZ-EDATA",)),
    *rows_for("/api/v1/procedures/edata/{doc}/content", {"citizen2": NO, "a": NO, "b": NO, "admin": NO}),
    *[Row(c, "DELETE", "/api/v1/procedures/edata/{doc}", NO) for c in ("citizen2", "a", "b")],
    *rows_for("/api/v1/procedures/edata/access-log", {"citizen2": 200, "b": (200, 403)}, lacks=("{code}",)),
    *rows_for("/kho-du-lieu", {"citizen": 200}, has=("Giấy khai sinh AUTHZ",)),
    *rows_for("/kho-du-lieu", {"citizen2": 200, "b": (200, 403)}, lacks=("Giấy khai sinh AUTHZ",)),
]

F = "/api/v1/procedures/feedback"
FEEDBACK_ROWS: list[Row] = [
    *rows_for(F, {"citizen": 200, "a": 200, "admin": 200}, has=("{fb}",)),
    *rows_for(F, {"citizen2": 200, "b": 200, "b_admin": 200}, lacks=("{fb}", "AUTHZ-PHAN-ANH"), total=0),
    *rows_for(F + "/{fb}", {"citizen": 200}, has=("AUTHZ-PHAN-ANH",)),
    *rows_for(F + "/{fb}", {"a": 200}, has=("AUTHZ-PHAN-ANH",), audit="{person}"),
    *rows_for(F + "/{fb}", {"citizen2": NO, "b": NO, "b_admin": NO, "sys_b": NO, "anon": 401}),
    *[
        Row(c, "POST", F + "/{fb}/actions", NO, json={"action": "reject", "version": 1})
        for c in ("citizen2", "b", "b_admin")
    ],
    *[Row(c, "POST", F + "/{fb}/rating", NO, json={"satisfied": False}) for c in ("citizen2", "b")],
    *rows_for(F + "/published", {"anon": 200}, lacks=("AUTHZ-PHAN-ANH",)),
    *rows_for("/phan-anh/{fb}", {"citizen": 200, "a": 200}, has=("AUTHZ-PHAN-ANH",)),
    *rows_for("/phan-anh/{fb}", {"citizen2": NO, "b": NO}),
    *rows_for("/phan-anh", {"citizen2": 200, "anon": 200}, lacks=("AUTHZ-PHAN-ANH",)),
    *rows_for("/can-bo/phan-anh", {"a": 200}, has=("{fb}",)),
    *rows_for("/can-bo/phan-anh", {"b": 200, "citizen2": 200}, lacks=("{fb}",)),
]


def test_procedures_matrix(client: TestClient, factory: Factory, db: Database) -> None:
    callers = make_callers(factory)
    citizen = callers.citizen
    pid = citizen.principal.personal_id
    form = {
        "applicant_name": citizen.principal.name,
        "personal_id": pid,
        "address": "Phường Vinh Hưng, Nghệ An",
        "sheet_type": 1,
        "copies": 1,
    }
    r = client.post(D, json={"procedure_code": LLTP, "form": form}, headers=citizen.headers)
    assert r.status_code == 201, r.text
    code = r.json()["code"]
    r = client.post(
        f"{D}/{code}/attachments",
        data={"component": "Tờ khai"},
        files={"file": ("to-khai.pdf", b"%PDF-1.7\n" + b"0" * 200, "application/pdf")},
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    ctx = {
        "code": code,
        "att": r.json()["id"],
        "pid": str(pid),
        "name": citizen.principal.name,
        "person": citizen.id,
        "agency_a": r.json().get("agency_code", "000.00.05.H41"),
        "period": "20{0[0]}{0[1]}-{0[2]}{0[3]}".format(code.split("-")[1]),  # the month it was received
    }
    r = client.post(
        F,
        json={
            "category": "delay",
            "title": "AUTHZ-PHAN-ANH",
            "content": "Hồ sơ chậm.",
            "agency_code": ctx["agency_a"],
        },
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    ctx["fb"] = r.json()["code"]
    run_rows(client, db, callers, ROWS + FEEDBACK_ROWS, ctx)

    leader = factory.person(("leader", "official"), agency=ctx["agency_a"])
    for actor, action in [(callers.a, a) for a in ("assign", "start_review", "submit_for_signature")] + [
        (leader, "sign")
    ]:
        version = client.get(f"{D}/{code}", headers=actor.headers).json()["version"]
        r = client.post(
            f"{D}/{code}/transitions", json={"action": action, "version": version}, headers=actor.headers
        )
        assert r.status_code == 200, r.text
    r = client.post(
        "/api/v1/procedures/edata",
        data={"title": "Giấy khai sinh AUTHZ"},
        files={"file": ("khai-sinh.pdf", b"%PDF-1.7\nAUTHZ-EDATA" + b"0" * 100, "application/pdf")},
        headers=citizen.headers,
    )
    assert r.status_code == 201, r.text
    ctx["doc"] = r.json()["id"]
    docs = client.get("/api/v1/procedures/edata", headers=citizen.headers).json()
    ctx["result"] = next(x["id"] for x in docs if x["kind"] == "result")
    run_rows(client, db, callers, RESULT_ROWS, ctx)
