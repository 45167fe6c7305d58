"""Names already in standard form: a name made of standard words (is_standard_word) joined by single spaces is
returned unchanged by normalize_name, and every name normalize_name writes is made of standard words. Ingestion
relies on both to let such names skip the normaliser."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from tinhso.kit.vn import normalize_name
from tinhso.kit.vn.names import is_standard_word

SYLLABLES = ["Hòa", "Hoà", "hòa", "HÒA", "Thủy", "Thuỷ", "Nguyễn", "nguyễn", "Quý", "Qúy", "Giữa", "Gíưa", "Người",
             "Ngươì", "H'Mông", "H'mông", "Khơ-Mú", "Khơ-mú", "Lò", "Văn", "Thị", "Đức", "đức", "A", "Y", "Uyên",
             "Khuyến", "Khúyên", "Ngô", "Mùa", "Vừ", "Xồng", "Ơ-Đu"]  # fmt: skip
LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxyAĂÂĐÊÔƠƯàáảãạằắẳẵặầấẩẫậèéẻẽẹềếểễệìíỉĩịòóỏõọồốổỗộờớởỡợùúủũụừứửữựỳýỷỹỵ"
words = st.one_of(
    st.sampled_from(SYLLABLES),
    st.text(st.sampled_from(LETTERS + "'-\u0300\u0301\u0303\u0309\u0323"), min_size=1, max_size=7),
)
forms = st.sampled_from(["as is", "NFD", "upper", "lower"])


def _form(word: str, form: str) -> str:
    if form == "NFD":
        return unicodedata.normalize("NFD", word)
    return word.upper() if form == "upper" else word.lower() if form == "lower" else word


@settings(deadline=None, max_examples=400)
@given(st.lists(st.tuples(words, forms), min_size=1, max_size=5))
def test_standard_words_make_a_standard_name(parts) -> None:  # noqa: ANN001
    text = " ".join(_form(w, f) for w, f in parts)
    result = normalize_name(text)
    if all(is_standard_word(w) for w in text.split(" ")):
        assert (result.ok, result.value, result.fixed) == (True, text, False)
    if result.ok:
        assert all(is_standard_word(w) for w in result.value.split(" "))
        if result.value != text:
            assert result.fixed and not all(is_standard_word(w) for w in text.split(" "))


def test_standard_word_examples() -> None:
    assert is_standard_word("Hòa") and is_standard_word("H'Mông") and is_standard_word("Khơ-Mú")
    for word in (
        "Hoà",
        "hòa",
        "HÒA",
        "H'mông",
        unicodedata.normalize("NFD", "Nguyễn"),
        "",
        "Văn3",
        "A B",
        "Qúy",
    ):
        assert not is_standard_word(word), word


def test_each_part_of_a_hyphenated_or_apostrophised_word_keeps_its_tone_mark() -> None:
    assert normalize_name("khơ-mú").value == "Khơ-Mú" and normalize_name("KHƠ-MÚ").value == "Khơ-Mú"
    assert (
        normalize_name("y'bắc").value == "Y'Bắc" and normalize_name("lò văn h'mông").value == "Lò Văn H'Mông"
    )
    assert normalize_name("Khơ-Mú").fixed is False
