"""Evidence files of roadmap progress: type and size checks, checksum, agency-scoped download, audit, attachment."""

from __future__ import annotations

import hashlib
import io
import zipfile

from sqlalchemy import func, select

from tests.factories import SKHCN, TUPHAP
from tinhso.governance import evidence
from tinhso.governance.models import EvidenceFile, TaskProgress
from tinhso.kit.audit import AuditEntry

TASKS = "/api/v1/governance/tasks"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def _upload(client, actor, name, data, task="IV.2.24", title="Biên bản nghiệm thu"):  # noqa: ANN001, ANN202
    return client.post(
        f"{TASKS}/{task}/evidence",
        files={"file": (name, data, "application/octet-stream")},
        data={"title": title},
        headers=actor.headers,
    )


def _count(db, model) -> int:  # noqa: ANN001
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_upload_attach_and_download(client, factory, tasks):
    admin = factory.person(("agency_admin", "official"), agency=SKHCN)  # Sở KH&CN leads IV.2.24
    r = _upload(client, admin, "biên bản.pdf", PDF)
    assert r.status_code == 201, r.text
    up = r.json()
    assert up["sha256"] == hashlib.sha256(PDF).hexdigest() and up["size"] == len(PDF)
    assert up["content_type"] == "application/pdf" and up["filename"] == "biên bản.pdf"
    assert up["progress_id"] is None
    docx = _upload(client, admin, "ke-hoach.docx", _docx(), title="")
    assert docx.status_code == 201 and docx.json()["title"] == "ke-hoach.docx"

    body = {
        "status": "in_progress",
        "percent": 30,
        "evidence": [
            {"title": "Biên bản nghiệm thu", "file_id": up["id"]},
            {"title": "KH", "file_id": docx.json()["id"]},
        ],
    }
    report = client.post(f"{TASKS}/IV.2.24/progress", json=body, headers=admin.headers)
    assert report.status_code == 201, report.text
    item = report.json()["evidence"][0]
    assert item["file_id"] == up["id"] and item["sha256"] == up["sha256"] and item["size"] == len(PDF)

    got = client.get(f"/api/v1/governance/evidence/{up['id']}", headers=admin.headers)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["etag"] == f'"{up["sha256"]}"' and "nosniff" in got.headers["x-content-type-options"]
    assert "filename*=UTF-8''bi%C3%AAn%20b%E1%BA%A3n.pdf" in got.headers["content-disposition"]
    leader = factory.person(("leader",), agency="000.00.00.H41")
    assert client.get(f"/api/v1/governance/evidence/{up['id']}", headers=leader.headers).status_code == 200
    other = factory.person(("agency_admin", "official"), agency=TUPHAP)
    assert client.get(f"/api/v1/governance/evidence/{up['id']}", headers=other.headers).status_code == 404
    assert client.get("/api/v1/governance/evidence/nope", headers=admin.headers).status_code == 404
    assert client.get(f"/api/v1/governance/evidence/{up['id']}").status_code == 401
    with tasks.transaction() as s:
        actions = list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("governance.evidence.%")))
        )
        assert actions.count("governance.evidence.upload") == 2
        assert actions.count("governance.evidence.download") == 2  # the agency's and the leader's

    # A file already in a report cannot be named again: nothing changes.
    again = client.post(f"{TASKS}/IV.2.24/progress", json=body, headers=admin.headers)
    assert again.status_code == 400 and again.json()["code"] == "evidence_file_invalid"
    assert _count(tasks, TaskProgress) == 1


def test_refused_files_leave_nothing(client, factory, tasks):
    admin = factory.person(("agency_admin", "official"), agency=SKHCN)
    fake = _upload(client, admin, "report.pdf", b"<html>not a pdf</html>")
    assert fake.status_code == 400 and fake.json()["code"] == "evidence_content_mismatch"
    exe = _upload(client, admin, "setup.exe", b"MZ\x90\x00")
    assert exe.status_code == 400 and exe.json()["code"] == "evidence_type_refused"
    zipped = _upload(client, admin, "ke-hoach.docx", b"PK\x03\x04 broken zip")
    assert zipped.status_code == 400
    big = _upload(client, admin, "big.pdf", b"%PDF-" + b"0" * evidence.MAX_BYTES)
    assert big.status_code == 413 and big.json()["code"] == "evidence_too_large"
    assert _upload(client, admin, "empty.pdf", b"").status_code == 400
    # Another agency's task (Sở Tư pháp neither leads nor coordinates II.1.1), or no right to write.
    other = factory.person(("agency_admin",), agency=TUPHAP)
    assert _upload(client, other, "a.pdf", PDF, task="II.1.1").status_code == 403
    official = factory.person(("official",), agency=SKHCN)
    assert _upload(client, official, "a.pdf", PDF).status_code == 403
    assert _upload(client, admin, "a.pdf", PDF, task="IX.9").status_code == 404
    assert _count(tasks, EvidenceFile) == 0


def test_a_file_of_another_agency_or_task_cannot_be_named(client, factory, tasks):
    admin = factory.person(("agency_admin", "official"), agency=SKHCN)
    up = _upload(client, admin, "a.pdf", PDF).json()  # for IV.2.24
    body = {"status": "in_progress", "percent": 5, "evidence": [{"title": "x", "file_id": up["id"]}]}
    # II.1.1 is also led by Sở KH&CN, but the file was uploaded for IV.2.24.
    wrong_task = client.post(f"{TASKS}/II.1.1/progress", json=body, headers=admin.headers)
    assert wrong_task.status_code == 400 and wrong_task.json()["code"] == "evidence_file_invalid"
    assert _count(tasks, TaskProgress) == 0
    with tasks.transaction() as s:
        assert s.get(EvidenceFile, up["id"]).progress_id is None
