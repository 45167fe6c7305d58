"""Uploading internal documents as files: HTML, DOCX, text; unsupported and oversized files are refused."""

from __future__ import annotations

import io
import zipfile

from tests.factories import TUPHAP

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


PDF_LINES = [
    "Quy chế tiếp nhận văn bản đến",
    "Văn thư vào sổ văn bản đến trong ngày và trình Chánh Văn phòng trước 16 giờ.",
]


def pdf_bytes(pages: list[list[str]]) -> bytes:
    """A real PDF written by hand: a Type0 font with a ToUnicode map, so Vietnamese text is extractable."""
    chars = sorted({ch for page in pages for line in page for ch in line})
    cmap = "\n".join(f"<{ord(c):04X}> <{ord(c):04X}>" for c in chars)
    to_unicode = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /T def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        f"{len(chars)} beginbfchar\n{cmap}\nendbfchar\nendcmap CMapName currentdict /CMap defineresource pop end end"
    )
    n = len(pages)
    objs: list[str] = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [" + " ".join(f"{6 + 2 * i} 0 R" for i in range(n)) + f"] /Count {n} >>",
        "<< /Type /Font /Subtype /Type0 /BaseFont /Arial /Encoding /Identity-H "
        "/DescendantFonts [4 0 R] /ToUnicode 5 0 R >>",
        "<< /Type /Font /Subtype /CIDFontType2 /BaseFont /Arial "
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> /DW 500 >>",
        f"<< /Length {len(to_unicode.encode())} >>\nstream\n{to_unicode}\nendstream",
    ]
    for i, page in enumerate(pages):
        ops = (
            "BT /F1 12 Tf 50 750 Td "
            + " ".join("<" + "".join(f"{ord(c):04X}" for c in line) + "> Tj 0 -20 Td" for line in page)
            + " ET"
        )
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {7 + 2 * i} 0 R >>"
        )
        objs.append(f"<< /Length {len(ops)} >>\nstream\n{ops}\nendstream")
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return out


def encrypted_pdf_bytes() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([PDF_LINES]))))
    writer.encrypt("mat-khau", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def test_pdf_upload_is_extracted_page_by_page_and_cited(client, factory):
    official = factory.person(("official",), agency=TUPHAP)
    data = pdf_bytes([["Mở đầu", "Văn bản nội bộ của Sở."], PDF_LINES])
    resp = client.post(
        UPLOAD,
        files={"file": ("van-ban-den.pdf", data, "application/pdf")},
        data={"title": "Quy chế văn bản đến"},
        headers=official.headers,
    )
    assert resp.status_code == 201, resp.json()
    doc = client.get(f"/api/v1/ai/documents/{resp.json()['id']}", headers=official.headers).json()
    assert doc["format"] == "text" and "Văn bản nội bộ của Sở." in doc["content"]
    assert PDF_LINES[1] in doc["content"]
    assert doc["content"].index("Mở đầu") < doc["content"].index(PDF_LINES[0])
    body = client.post(
        ASK, json={"question": "văn thư vào sổ văn bản đến khi nào"}, headers=official.headers
    ).json()
    assert body["citations"][0]["kind"] == "document"
    assert body["citations"][0]["title"] == "Quy chế văn bản đến"
    assert "trước 16 giờ" in body["answer"]


def test_html_upload_keeps_text_and_drops_scripts(client, factory):
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
        (("quy-che.pdf", b"%PDF-1.4 ...", "application/pdf"), "document_unreadable"),
        (("quy-che.pdf", encrypted_pdf_bytes(), "application/pdf"), "document_encrypted"),
        (("quy-che.odt", b"PK...", "application/octet-stream"), "document_format"),
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
