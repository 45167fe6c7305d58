"""Vietnamese first: pages and errors speak Vietnamese unless the person chooses English."""

from tinhso.kit.i18n import both, gettext, pick_language


def test_vietnamese_unless_chosen_even_with_an_english_browser():
    assert pick_language(None, None, "en-US,en;q=0.9") == "vi"
    assert pick_language("en", None, None) == "en"
    assert pick_language(None, "en", "vi") == "en"
    assert pick_language("xx", None, None) == "vi"


def test_messages_translate_with_parameters():
    assert (
        gettext("Commune {code} not found", "vi", code="17329")
        == "Không tìm thấy đơn vị hành chính cấp xã 17329"
    )
    assert both("Not found") == {"vi": "Không tìm thấy", "en": "Not found"}


def test_english_browser_gets_the_vietnamese_page(client):
    page = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="vi"' in page.text
    chosen = client.get("/?lang=en")
    assert '<html lang="en"' in chosen.text
    assert '<html lang="en"' in client.get("/").text  # remembered
