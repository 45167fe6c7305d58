"""Text services: normalisation, diacritic restoration, segmentation, keywords, feedback routing."""

import unicodedata

import pytest

from tests.factories import CONGAN, SKHCN
from tinhso.assistant import diacritics, routing
from tinhso.assistant.textproc import normalize, place_tone


@pytest.mark.parametrize(
    ("typed", "old", "new"),
    [
        ("hoà", "hòa", "hoà"),
        ("thuỷ", "thủy", "thuỷ"),
        ("khỏe", "khỏe", "khoẻ"),
        ("quý", "quý", "quý"),
        ("giá", "giá", "giá"),
        ("người", "người", "người"),
        ("hoàng", "hoàng", "hoàng"),
        ("Hoà", "Hòa", "Hoà"),
        ("khuỷu", "khuỷu", "khuỷu"),
        ("thuở", "thuở", "thuở"),
    ],
)
def test_tone_mark_placement(typed, old, new):
    assert place_tone(typed, "old") == old
    assert place_tone(typed, "new") == new


def test_normalize_turns_nfd_into_nfc_and_one_convention():
    decomposed = unicodedata.normalize("NFD", "Hoà  bình thuỷ điện")
    assert normalize(decomposed) == "Hòa bình thủy điện"
    assert unicodedata.is_normalized("NFC", normalize(decomposed))


def test_text_services_need_a_credential(client):
    resp = client.post("/api/v1/ai/text/normalize", json={"text": "hoà"})
    assert resp.status_code == 401
    assert resp.json()["code"] == "unauthenticated"


def test_system_needs_the_ai_text_scope(client, factory):
    without = factory.system(CONGAN, scopes=("api",))
    resp = client.post("/api/v1/ai/text/segment", json={"text": "giấy khai sinh"}, headers=without.headers)
    assert resp.status_code == 403 and resp.json()["code"] == "scope_required"
    assert resp.json()["message"]["vi"] != resp.json()["message"]["en"]
    allowed = factory.system(CONGAN, scopes=("ai:text",))
    resp = client.post("/api/v1/ai/text/segment", json={"text": "giấy khai sinh"}, headers=allowed.headers)
    assert resp.status_code == 200
    assert resp.json()["words"] == ["giấy", "khai sinh"]
    assert resp.json()["text"] == "giấy khai_sinh"


def test_normalize_api_both_styles(client, factory):
    caller = factory.system(SKHCN, scopes=("ai:text",))
    text = unicodedata.normalize("NFD", "Thuỷ lợi hoà bình")
    old = client.post("/api/v1/ai/text/normalize", json={"text": text}, headers=caller.headers).json()
    assert old == {"text": "Thủy lợi hòa bình", "changed": True}
    new = client.post(
        "/api/v1/ai/text/normalize", json={"text": text, "tone_style": "new"}, headers=caller.headers
    ).json()
    assert new["text"] == "Thuỷ lợi hoà bình"


def test_bad_input_is_refused_with_a_typed_error(client, factory):
    caller = factory.system(SKHCN, scopes=("ai:text",))
    for body in ({"text": ""}, {"text": "x" * 20_001}, {"txt": "a"}, {"text": "a", "tone_style": "mới"}):
        resp = client.post("/api/v1/ai/text/normalize", json=body, headers=caller.headers)
        assert resp.status_code == 422, body
        assert set(resp.json()) >= {"status", "code", "message"}


def test_restore_diacritics_api(client, factory):
    caller = factory.person(("official",))
    resp = client.post(
        "/api/v1/ai/text/restore-diacritics",
        json={"text": "Toi muon dang ky ket hon, le phi bao nhieu tien?"},
        headers=caller.headers,
    )
    assert resp.status_code == 200
    body = resp.json()
    assert "đăng ký kết hôn" in body["text"]
    assert "lệ phí bao nhiêu tiền?" in body["text"]
    assert body["restored_words"] >= 8


def test_restoration_keeps_words_typed_with_accents_and_punctuation():
    r = diacritics.default_restorer()
    assert r.restore("Xã  Diễn Châu, ngay 12/3").startswith("Xã  Diễn Châu, ")
    assert r.restore("12/3/2025 - 15.000") == "12/3/2025 - 15.000"


def test_restoration_accuracy_on_held_out_sentences_beats_the_baseline():
    _, held = diacritics.split_corpus()
    sample = held[:300]
    result = diacritics.evaluate(diacritics.default_restorer(), sample)
    assert result["syllables"] > 2000
    assert result["accuracy"] >= 0.9
    assert result["accuracy"] > result["baseline_accuracy"] + 0.1


def test_keywords_api(client, factory):
    caller = factory.citizen()
    text = "Đường giao thông ở xóm 3 bị sụt lún. Đường giao thông xuống cấp, xe máy đi lại nguy hiểm."
    body = client.post(
        "/api/v1/ai/text/keywords", json={"text": text, "limit": 3}, headers=caller.headers
    ).json()
    words = [k["keyword"] for k in body["keywords"]]
    assert words[0] == "đường giao thông" or "giao thông" in words[0]
    assert len(words) == 3 and "ở" not in words


def test_feedback_routing_api_names_agency_and_evidence(client, factory):
    caller = factory.system(CONGAN, scopes=("ai:text",))
    resp = client.post(
        "/api/v1/ai/text/classify-feedback",
        json={"text": "Nhà máy xả nước thải ra sông gây ô nhiễm, cá chết nổi trắng"},
        headers=caller.headers,
    )
    body = resp.json()
    assert resp.status_code == 200
    assert body["agency_code"] == "000.00.06.H41" and body["needs_human"] is False
    assert body["agency_name"] == "Sở Nông nghiệp và Môi trường"
    assert "nuoc thai" in body["evidence"] or "thai" in body["evidence"]
    assert body["candidates"][0]["agency_code"] == "000.00.06.H41"


def test_feedback_routing_asks_a_person_when_unsure(client, factory):
    caller = factory.system(CONGAN, scopes=("ai:text",))
    body = client.post(
        "/api/v1/ai/text/classify-feedback", json={"text": "xin chào, cảm ơn"}, headers=caller.headers
    ).json()
    assert body["needs_human"] is True and body["agency_code"] is None


def test_feedback_routing_held_out_accuracy():
    result = routing.evaluate()
    assert result["held_out"] >= 40 and result["agencies"] >= 12
    assert result["accuracy"] >= 0.7
    assert result["accuracy"] > result["majority_baseline"] * 5


def test_text_services_and_assistant_are_documented_in_openapi(client):
    spec = client.get("/openapi.json").json()
    ops = {op["operationId"]: path for path, item in spec["paths"].items() for op in item.values()}
    for op in (
        "ai_text_normalize",
        "ai_text_restore_diacritics",
        "ai_text_segment",
        "ai_text_keywords",
        "ai_text_classify_feedback",
        "ai_assistant_ask",
        "ai_system_list",
        "ai_document_upload",
    ):
        assert op in ops, op
    assert ops["ai_assistant_ask"] == "/api/v1/ai/assistant/ask"


def test_short_assistant_path_is_the_same_endpoint(client):
    body = client.post("/api/v1/assistant/ask", json={"question": "thời tiết hôm nay thế nào"}).json()
    assert body["status"] == "unknown" and body["answer_id"]


def test_segmentation_is_safe_from_a_cold_start_under_concurrency():
    import subprocess
    import sys

    code = (
        "import threading\n"
        "from tinhso.assistant.textproc import segment\n"
        "out, errors = [], []\n"
        "def run():\n"
        "    try:\n"
        "        out.append(segment('Làm giấy khai sinh cho con'))\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=run) for _ in range(6)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "assert not errors, errors\n"
        "assert all(o == out[0] for o in out) and 'khai sinh' in out[0], out\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
