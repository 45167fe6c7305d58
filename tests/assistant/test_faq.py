"""FAQ entries: agency-scoped CRUD for administrators, and public answers that cite them."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.factories import CONGAN, TUPHAP
from tinhso.assistant.models import FaqEntry

FAQ = "/api/v1/ai/faq"
ASK = "/api/v1/ai/assistant/ask"
ENTRY = {
    "question": "Bộ phận một cửa Sở Tư pháp có làm việc sáng thứ Bảy không?",
    "answer": "Bộ phận một cửa Sở Tư pháp tiếp nhận hồ sơ lý lịch tư pháp vào sáng thứ Bảy từ 7 giờ 30 đến 11 giờ.",
}


def test_admin_writes_faq_and_the_public_answer_cites_it(client, factory):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    resp = client.post(FAQ, json=ENTRY, headers=admin.headers)
    assert resp.status_code == 201, resp.json()
    entry = resp.json()
    assert entry["agency_code"] == TUPHAP and entry["published"] is True
    again = client.post(FAQ, json=ENTRY, headers=admin.headers)
    assert again.status_code == 200 and again.json()["id"] == entry["id"]
    body = client.post(ASK, json={"question": "mot cua so tu phap co lam viec sang thu bay khong"}).json()
    assert body["status"] == "answered", body
    assert body["citations"][0]["kind"] == "faq" and body["citations"][0]["ref"] == entry["id"]
    assert "từ 7 giờ 30 đến 11 giờ" in body["answer"]

    # an edit re-indexes: the next answer carries the new text
    changed = client.patch(
        f"{FAQ}/{entry['id']}",
        json={"answer": "Bộ phận một cửa Sở Tư pháp nghỉ sáng thứ Bảy; hãy nộp hồ sơ trực tuyến."},
        headers=admin.headers,
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    body = client.post(ASK, json={"question": "một cửa Sở Tư pháp có làm việc sáng thứ Bảy không"}).json()
    assert "nghỉ sáng thứ Bảy" in body["answer"]

    # unpublished entries are not retrieved; deleted ones are gone
    client.patch(f"{FAQ}/{entry['id']}", json={"published": False}, headers=admin.headers)
    body = client.post(ASK, json={"question": "một cửa Sở Tư pháp có làm việc sáng thứ Bảy không"}).json()
    assert all(c["kind"] != "faq" for c in body["citations"])
    assert client.delete(f"{FAQ}/{entry['id']}", headers=admin.headers).status_code == 204
    assert client.get(f"{FAQ}/{entry['id']}", headers=admin.headers).status_code == 404


def test_faq_not_found_and_not_allowed(client, factory, platform_admin):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    other_admin = factory.person(("agency_admin", "official"), agency=CONGAN)
    official = factory.person(("official",), agency=TUPHAP)
    entry = client.post(FAQ, json=ENTRY, headers=admin.headers).json()
    missing = client.get(f"{FAQ}/nope", headers=admin.headers)
    assert missing.status_code == 404 and missing.json()["code"] == "faq_not_found"
    # another agency's admin sees nothing of it
    assert client.get(f"{FAQ}/{entry['id']}", headers=other_admin.headers).status_code == 404
    assert (
        client.patch(
            f"{FAQ}/{entry['id']}", json={"published": False}, headers=other_admin.headers
        ).status_code
        == 404
    )
    assert client.get(FAQ, headers=other_admin.headers).json()["total"] == 0
    assert client.get(FAQ, headers=platform_admin.headers).json()["total"] == 1
    # officials and citizens may not manage; nobody without a credential
    assert client.post(FAQ, json=ENTRY, headers=official.headers).json()["code"] == "faq_admins_only"
    assert client.get(FAQ, headers=factory.citizen().headers).status_code == 403
    assert client.get(FAQ).status_code == 401
    foreign = client.post(FAQ, json={**ENTRY, "agency_code": TUPHAP}, headers=other_admin.headers)
    assert foreign.status_code == 403 and foreign.json()["code"] == "faq_not_yours"
    # platform admins write for any agency
    made = client.post(
        FAQ,
        json={**ENTRY, "question": "Câu hỏi khác của Công an tỉnh?", "agency_code": CONGAN},
        headers=platform_admin.headers,
    )
    assert made.status_code == 201 and made.json()["agency_code"] == CONGAN


def test_bad_faq_input_changes_nothing(client, db, factory):
    admin = factory.person(("agency_admin", "official"), agency=TUPHAP)
    entry = client.post(FAQ, json=ENTRY, headers=admin.headers).json()
    for payload in (
        {"question": "", "answer": "x"},
        {"question": "   \u200b  ", "answer": "Trả lời đầy đủ"},
        {"question": "Câu hỏi?", "answer": "a" * 6000},
        {"answer": "Thiếu câu hỏi"},
        {**ENTRY, "question": "Câu hỏi mới?", "agency_code": "KHONG.CO"},
    ):
        resp = client.post(FAQ, json=payload, headers=admin.headers)
        assert resp.status_code in (403, 404, 422), (payload, resp.json())
    bad = client.patch(f"{FAQ}/{entry['id']}", json={"answer": "   "}, headers=admin.headers)
    assert bad.status_code == 422
    with db.transaction(write=False) as session:
        assert session.scalar(select(func.count(FaqEntry.id))) == 1
    kept = client.get(f"{FAQ}/{entry['id']}", headers=admin.headers).json()
    assert kept["answer"] == ENTRY["answer"] and kept["version"] == 1


def test_demo_faq_is_answered_with_its_citation(client, db):
    from tinhso.assistant.faq import seed_demo

    with db.transaction() as session:
        seed_demo(session)
        seed_demo(session)  # seeding twice adds nothing
        assert session.scalar(select(func.count(FaqEntry.id))) >= 3
    body = client.post(ASK, json={"question": "mat giay khai sinh ban goc thi xin lai o dau"}).json()
    assert body["status"] == "answered" and body["citations"][0]["kind"] == "faq", body
    assert "trích lục khai sinh" in body["answer"]
