"""Authorisation matrix of the assistant: internal documents, FAQ entries, the answer log, conversations and
the AI systems register.

Agency A uploads an internal document (its own officials only), writes an FAQ entry and registers an AI
system; one of A's officials asks a question in a conversation. Agency B, citizens and anonymous visitors must
not get the document's text (not even through an answer), nor read or change A's entries, nor read the
conversation.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.assistant.test_register import spec
from tests.factories import Factory
from tests.hardening.authz_support import AGENCY_A, Row, make_callers, rows_for, run_rows
from tinhso.kit.db import Database

NO = (403, 404)
AI = "/api/v1/ai"
SECRET = "trưởng phòng trước 3 ngày làm việc"
RULES = f"""# Quy chế làm việc nội bộ

## Điều 9. Nghỉ phép
Công chức xin nghỉ phép gửi đơn cho {SECRET}; nghỉ quá 5 ngày do Giám đốc Sở duyệt.
"""
QUESTION = {"question": "công chức xin nghỉ phép gửi đơn cho ai"}
SESSION = "authz-conversation-0001"
FAQ_Q = "Bộ phận một cửa Sở Tư pháp có nhận hồ sơ lý lịch tư pháp sáng Chủ nhật không?"

FORM = {
    k: "\n".join(v) if isinstance(v, list) else v
    for k, v in (
        spec(owner_agency_code=AGENCY_A, name="Đổi tên hệ thống") | {"version": "1", "status": "active"}
    ).items()
}

ROWS: list[Row] = [
    # the internal document: A's officials; answers to anyone else never quote it
    *rows_for(AI + "/documents", {"a": 200, "admin": 200}, has=("{doc}",)),
    *rows_for(AI + "/documents", {"b": 200, "b_admin": 200}, lacks=("{doc}",), total=0),
    *rows_for(AI + "/documents", {"citizen": 403, "anon": 401}),
    *rows_for(AI + "/documents/{doc}", {"a": 200}),
    *rows_for(AI + "/documents/{doc}", {"b": NO, "b_admin": NO, "citizen": NO, "sys_b": NO, "anon": 401}),
    *[Row(c, "DELETE", AI + "/documents/{doc}", NO) for c in ("b", "b_admin", "citizen")],
    Row("a", "POST", AI + "/assistant/ask", 200, json=QUESTION, has=(SECRET,)),
    *[
        Row(c, "POST", AI + "/assistant/ask", 200, json=QUESTION, lacks=(SECRET,))
        for c in ("b", "citizen", "anon")
    ],
    # a conversation: its own caller only
    *rows_for(AI + "/assistant/sessions/" + SESSION, {"a": 200}, has=("nghỉ phép",)),
    *rows_for(
        AI + "/assistant/sessions/" + SESSION, {"b": 200, "citizen": 200, "anon": 200}, lacks=("nghỉ phép",)
    ),
    # the answer log: administrators of the agency the answers cite
    *rows_for(AI + "/assistant/answers", {"b_admin": 200}, lacks=(SESSION, SECRET)),
    *rows_for(AI + "/assistant/answers", {"a": 403, "citizen": 403, "anon": 401}),
    # FAQ entries: A's administrators write and read them
    *rows_for(AI + "/faq", {"a_admin": 200}, has=("{faq}",)),
    *rows_for(AI + "/faq", {"b_admin": 200}, lacks=("{faq}",), total=0),
    *rows_for(AI + "/faq/{faq}", {"b_admin": NO, "b": NO, "citizen": NO}),
    Row("b_admin", "PATCH", AI + "/faq/{faq}", NO, json={"published": False}),
    Row("b_admin", "DELETE", AI + "/faq/{faq}", NO),
    # the AI register: public to read; only the owner agency's administrators change it
    *rows_for(AI + "/systems/{ai}", {"anon": 200, "b": 200}),
    Row("b_admin", "PATCH", AI + "/systems/{ai}", NO, json={"version": 1, "name": "Đổi tên hệ thống"}),
    Row("b_admin", "DELETE", AI + "/systems/{ai}", NO),
    *rows_for("/admin/ai-register/{ai}", {"b_admin": NO}),
    Row("b_admin", "POST", "/admin/ai-register/{ai}", NO, data=FORM),
]


def test_assistant_matrix(client: TestClient, factory: Factory, db: Database) -> None:
    db.__dict__.get("_rate_limiters", {}).pop("memory", None)  # question budgets start unspent
    callers = make_callers(factory)
    r = client.post(
        AI + "/documents",
        json={"title": "Quy chế nội bộ A", "content": RULES, "format": "markdown", "visibility": "agency"},
        headers=callers.a.headers,
    )
    assert r.status_code == 201, r.text
    doc = r.json()["id"]
    r = client.post(AI + "/assistant/ask", json=QUESTION | {"session_id": SESSION}, headers=callers.a.headers)
    assert r.status_code == 200, r.text
    r = client.post(
        AI + "/faq",
        json={"question": FAQ_Q, "answer": "Không; bộ phận một cửa nghỉ Chủ nhật, hãy nộp hồ sơ trực tuyến."},
        headers=callers.a_admin.headers,
    )
    assert r.status_code == 201, r.text
    faq = r.json()["id"]
    r = client.post(AI + "/systems", json=spec(owner_agency_code=AGENCY_A), headers=callers.a_admin.headers)
    assert r.status_code == 201, r.text
    ctx = {"doc": doc, "faq": faq, "ai": r.json()["id"]}
    run_rows(client, db, callers, ROWS, ctx)
