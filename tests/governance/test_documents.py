"""The annual roadmap report and the monthly KPI report as DOCX and PDF: Vietnamese text intact, charts present."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from docx import Document
from pypdf import PdfReader
from sqlalchemy import select

from tests.factories import SKHCN
from tinhso.governance import documents, kpi
from tinhso.kit.audit import AuditEntry

TASKS = "/api/v1/governance/tasks"


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def docx_text(data: bytes) -> str:
    doc = Document(io.BytesIO(data))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_annual_report_as_docx_and_pdf(client, factory, tasks, db):
    admin = factory.person(("agency_admin",), agency=SKHCN)
    client.post(
        f"{TASKS}/IV.2.24/progress",
        json={
            "status": "in_progress",
            "percent": 40,
            "comment": "Đã nghiệm thu phân hệ đăng ký ứng dụng",
            "evidence": [{"title": "Quyết định 12/QĐ-SKHCN"}],
        },
        headers=admin.headers,
    )
    year = datetime.now(UTC).year
    url = "/api/v1/governance/roadmap/report"
    pdf = client.get(f"{url}.pdf", params={"year": year}, headers=admin.headers)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert f"lo-trinh-4520-{year}.pdf" in pdf.headers["content-disposition"]
    text = pdf_text(pdf.content)
    # Every Vietnamese letter survives (DejaVu embedded; extraction gives the same NFC text back).
    assert "Khung kiến trúc số" in text or "khung kiến trúc số" in text
    assert "Đã nghiệm thu phân hệ đăng ký ứng dụng" in text
    assert "Quyết định 12/QĐ-SKHCN" in text
    assert "IV.2.24" in text and "Đang thực hiện" in text
    assert len(PdfReader(io.BytesIO(pdf.content)).pages[0].images) == 1  # the status chart

    docx = client.get(f"{url}.docx", params={"year": year, "lang": "en"}, headers=admin.headers)
    assert docx.status_code == 200 and docx.headers["content-type"] == documents.MEDIA_TYPES["docx"]
    body = docx_text(docx.content)
    assert "Đã nghiệm thu phân hệ đăng ký ứng dụng" in body and "Tasks by status" in body
    assert len(Document(io.BytesIO(docx.content)).inline_shapes) == 1
    with db.transaction() as s:
        assert s.scalar(
            select(AuditEntry.seq).where(AuditEntry.action == "governance.roadmap.report").limit(1)
        )
    assert client.get(f"{url}.odt", params={"year": year}, headers=admin.headers).status_code == 422
    assert client.get(f"{url}.pdf", headers=factory.citizen().headers).status_code == 403
    assert client.get(f"{url}.docx").status_code == 401


def test_monthly_kpi_report_with_charts(client, factory, db):
    leader = factory.person(("leader",), agency="000.00.00.H41")
    with db.transaction() as s:
        kpi.run(s, trigger="test")
    month = datetime.now(UTC).astimezone(kpi.TZ).strftime("%Y-%m")
    pdf = client.get("/api/v1/kpis/report.pdf", params={"month": month}, headers=leader.headers)
    assert pdf.status_code == 200, pdf.text
    text = pdf_text(pdf.content)
    assert "Tuân thủ kiến trúc" in text and "Kết quả triển khai" in text
    assert "Chưa đo được" in text  # a KPI no module measures yet says so, with no invented figure
    assert "Tỷ lệ HTTT đang vận hành tuân thủ Khung kiến trúc" in text
    images = sum(len(p.images) for p in PdfReader(io.BytesIO(pdf.content)).pages)
    docx = client.get("/api/v1/kpis/report.docx", params={"month": month}, headers=leader.headers)
    assert docx.status_code == 200
    shapes = len(Document(io.BytesIO(docx.content)).inline_shapes)
    assert images >= 1 and shapes == images  # one chart per group that has a percentage KPI with a value
    assert "Báo cáo chỉ số KPI tháng" in docx_text(docx.content)
    page = client.get("/ioc/report", params={"month": month}, headers=leader.headers)
    assert page.status_code == 200 and f"/api/v1/kpis/report.pdf?month={month}" in page.text
    assert (
        client.get("/api/v1/kpis/report.pdf", params={"month": "2026-13"}, headers=leader.headers).status_code
        == 422
    )
    assert client.get("/api/v1/kpis/report.pdf", headers=factory.citizen().headers).status_code == 403


def test_a_missing_font_is_a_typed_error(monkeypatch):
    monkeypatch.setattr(documents, "FONT_DIRS", ())
    documents.font_path.cache_clear()
    try:
        with pytest.raises(documents.ServiceUnavailable) as err:
            documents.font_path()
        assert err.value.code == "report_font_missing"
    finally:
        documents.font_path.cache_clear()
