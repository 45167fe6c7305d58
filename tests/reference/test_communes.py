"""Communes API: the 130 units of Nghệ An, accent-insensitive search, typed refusals."""


def test_lists_all_130_communes_with_types(client):
    body = client.get("/api/v1/communes", params={"page_size": 500}).json()
    assert body["total"] == 130
    types = [c["type"] for c in body["items"]]
    assert types.count("xa") == 119 and types.count("phuong") == 11


def test_filter_by_type(client):
    body = client.get("/api/v1/communes", params={"type": "phuong", "page_size": 50}).json()
    assert body["total"] == 11
    assert all(c["name"].startswith("Phường") for c in body["items"])


def test_search_without_diacritics_finds_vietnamese_names(client):
    with_accents = client.get("/api/v1/communes", params={"q": "Thành Vinh"}).json()
    without = client.get("/api/v1/communes", params={"q": "thanh vinh"}).json()
    assert with_accents["total"] >= 1
    assert [c["code"] for c in with_accents["items"]] == [c["code"] for c in without["items"]]
    assert any(c["name"] == "Phường Thành Vinh" for c in without["items"])


def test_search_by_legacy_unit_name(client):
    # Xã Anh Sơn was formed from Thị trấn Kim Nhan among others.
    body = client.get("/api/v1/communes", params={"q": "kim nhan"}).json()
    assert [c["code"] for c in body["items"]] == ["17329"]
    assert {"code": "17329", "name": "Thị trấn Kim Nhan"} in body["items"][0]["merged_from"]


def test_get_one_commune(client):
    body = client.get("/api/v1/communes/17329").json()
    assert body["name"] == "Xã Anh Sơn" and body["province_code"] == "40"


def test_unknown_commune_is_a_typed_404(client):
    resp = client.get("/api/v1/communes/99999")
    assert resp.status_code == 404
    body = resp.json()
    assert body["code"] == "commune_not_found"
    assert body["message"]["vi"].startswith("Không tìm thấy") and "99999" in body["message"]["en"]
    assert body["request_id"]


def test_bad_filter_is_a_validation_error(client):
    resp = client.get("/api/v1/communes", params={"type": "huyen"})
    assert resp.status_code == 422 and resp.json()["code"] == "validation_error"


def test_agencies_include_province_departments_and_commune_committees(client):
    body = client.get("/api/v1/agencies", params={"page_size": 500}).json()
    codes = {a["code"]: a for a in body["items"]}
    assert codes["000.00.00.H41"]["name"] == "Ủy ban nhân dân tỉnh Nghệ An"
    assert codes["000.00.00.H41"]["code_generated"] is False
    assert sum(1 for a in body["items"] if a["kind"] == "commune") == 130
    assert codes["000.00.02.H41"]["name"] == "Sở Khoa học và Công nghệ"
    found = client.get("/api/v1/agencies", params={"q": "so khoa hoc"}).json()
    assert [a["code"] for a in found["items"]] == ["000.00.02.H41"]
    assert client.get("/api/v1/agencies/000.00.15.H41").json()["short_name"] == "CA tỉnh"
    assert client.get("/api/v1/agencies/999.99.99.H41").status_code == 404
