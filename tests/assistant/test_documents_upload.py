"""Uploading internal documents as files: HTML, DOCX, text; unsupported and oversized files are refused."""

from __future__ import annotations

import io
import zipfile

from tests.factories import TUPHAP
from tinhso.assistant.service import limiter

UPLOAD = "/api/v1/ai/documents/upload"
ASK = "/api/v1/ai/assistant/ask"

HTML = """<html><head><title>x</title><style>p{color:red}</style><script>alert('ignore me')</script></head>
<body><h1>Quy định tiếp công dân</h1><p>Lịch tiếp công dân định kỳ vào sáng thứ Năm hằng tuần
tại phòng tiếp dân tầng 1.</p><p>Cán bộ tiếp dân ghi sổ theo dõi &amp; chuyển đơn trong 2 ngày.</p></body></html>"""

DOCUMENT_XML = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quy chế sử dụng xe công</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">Cán bộ đăng ký sử dụng xe công </w:t></w:r><w:r><w:t>với Văn phòng Sở trước 1 ngày làm việc.</w:t></w:r></w:p>
</w:body></w:document>"""


def docx_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
            'wordprocessingml.document.main+xml"/></Types>',
        )
        z.writestr("word/document.xml", DOCUMENT_XML)
    return buf.getvalue()


def test_html_upload_keeps_text_and_drops_scripts(client, factory):
    limiter._seen.clear()
    official = factory.person(("official",), agency=TUPHAP)
    resp = client.post(UPLOAD, files={"file": ("tiep-dan.html", HTML, "text/html")}, headers=official.headers)
    assert resp.status_code == 201
    doc = client.get(f"/api/v1/ai/documents/{resp.json()['id']}", headers=official.headers).json()
    assert doc["title"] == "tiep-dan" and "# Quy định tiếp công dân" in doc["content"]
    assert "alert" not in doc["content"] and "color" not in doc["content"] and "&amp;" not in doc["content"]
    body = client.post(
        ASK, json={"question": "lịch tiếp công dân vào ngày nào"}, headers=official.headers
    ).json()
    assert body["citations"][0]["kind"] == "document"
    assert "sáng thứ Năm" in body["answer"]


def test_docx_upload(client, factory):
    limiter._seen.clear()
    official = factory.person(("official",), agency=TUPHAP)
    resp = client.post(
        UPLOAD,
        files={"file": ("xe-cong.docx", docx_bytes(), "application/octet-stream")},
        data={"title": "Quy chế xe công", "visibility": "province"},
        headers=official.headers,
    )
    assert resp.status_code == 201 and resp.json()["visibility"] == "province"
    doc = client.get(f"/api/v1/ai/documents/{resp.json()['id']}", headers=official.headers).json()
    assert "# Quy chế sử dụng xe công" in doc["content"]
    assert "Cán bộ đăng ký sử dụng xe công với Văn phòng Sở trước 1 ngày làm việc." in doc["content"]


def test_unsupported_broken_and_oversized_files_are_refused(client, factory):
    official = factory.person(("official",), agency=TUPHAP)
    cases = [
        (("quy-che.pdf", b"%PDF-1.4 ...", "application/pdf"), "document_format"),
        (("hong.docx", b"not a zip", "application/octet-stream"), "document_unreadable"),
        (
            ("latin1.txt", "Quy chế".encode("cp1258", errors="replace") + b"\xff\xfe\xfa", "text/plain"),
            "document_unreadable",
        ),
        (("lon.txt", b"a" * (5 * 1024 * 1024 + 10), "text/plain"), "document_too_large"),
        (("rong.txt", b"   \n\n", "text/plain"), "document_empty"),
    ]
    for file, code in cases:
        resp = client.post(UPLOAD, files={"file": file}, headers=official.headers)
        assert resp.status_code == 422, file[0]
        assert resp.json()["code"] == code, (file[0], resp.json())
    assert client.get("/api/v1/ai/documents", headers=official.headers).json()["total"] == 0
    citizen = factory.citizen()
    assert (
        client.post(
            UPLOAD, files={"file": ("a.txt", b"abc", "text/plain")}, headers=citizen.headers
        ).status_code
        == 403
    )
