"""Evidence files of roadmap progress: type and size checks, checksum, agency-scoped download, audit.

An agency uploads a file for a task it leads or coordinates (`store`), then names it in a progress report
(checked by `claimable`, bound in the report's transaction). The bytes are kept in the database, so a report and its files commit or
roll back together and the backups hold both. Only the uploading agency, leaders and platform administrators
may download a file; any other caller gets 404, as for anything outside their scope.
"""

from __future__ import annotations

import hashlib
import io
import unicodedata
import zipfile
from pathlib import PurePosixPath

from sqlalchemy.orm import Session

from tinhso.governance.models import EvidenceFile, RoadmapTask
from tinhso.identity.principal import Principal
from tinhso.kit import audit
from tinhso.kit.db import utcnow
from tinhso.kit.errors import BadRequest, NotFound, PayloadTooLarge

MAX_BYTES = 8 * 1024 * 1024
PER_REPORT = 10

# extension -> content type; the bytes must match the extension (sniffed below), whatever the client declares
TYPES = {
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
}


def _zip_kind(data: bytes) -> str | None:
    """'ooxml' or 'odf' for a well-formed Office Open XML or OpenDocument package, else None."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
            if "[Content_Types].xml" in names:
                return "ooxml"
            if "mimetype" in names:
                return "odf"
    except (zipfile.BadZipFile, ValueError):
        return None
    return None


def content_type_of(filename: str, data: bytes) -> str:
    """The content type of an accepted evidence file; `BadRequest` when its bytes are not what its name says."""
    ext = PurePosixPath(filename.lower()).suffix
    expected = TYPES.get(ext)
    if expected is None:
        raise BadRequest(
            "evidence_type_refused",
            "Evidence files must be PDF, DOCX, XLSX, ODT, ODS, PNG or JPEG (got {name})",
            name=filename,
        )
    ok = {
        ".pdf": data.startswith(b"%PDF-"),
        ".png": data.startswith(b"\x89PNG\r\n\x1a\n"),
        ".jpg": data.startswith(b"\xff\xd8\xff"),
        ".jpeg": data.startswith(b"\xff\xd8\xff"),
    }.get(ext)
    if ok is None:  # zip-based office documents
        ok = data.startswith(b"PK\x03\x04") and _zip_kind(data) == (
            "odf" if ext.startswith(".od") else "ooxml"
        )
    if not ok:
        raise BadRequest(
            "evidence_content_mismatch",
            "The content of {name} is not a valid {ext} file",
            name=filename,
            ext=ext,
        )
    return expected


def clean_filename(filename: str) -> str:
    name = unicodedata.normalize("NFC", PurePosixPath(filename.replace("\\", "/")).name).strip()
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?')
    return name[:255] or "evidence"


def store(
    session: Session, principal: Principal, task: RoadmapTask, title: str, filename: str, data: bytes
) -> EvidenceFile:
    """Check and keep one file for `task` (the caller's right to report on it is checked by the service)."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(
            "evidence_too_large", "An evidence file may hold at most {limit} MB", limit=MAX_BYTES // 2**20
        )
    if not data:
        raise BadRequest("evidence_empty", "The evidence file is empty")
    name = clean_filename(filename)
    title = " ".join(title.split())[:255] or name
    entry = EvidenceFile(
        task_id=task.id,
        agency_code=principal.agency_code,
        uploaded_by=principal.id,
        title=title,
        filename=name,
        content_type=content_type_of(name, data),
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        created_at=utcnow(),
    )
    session.add(entry)
    session.flush()
    audit.record(
        session,
        "governance.evidence.upload",
        object_type="governance_evidence_file",
        object_id=entry.id,
        detail={"task": task.code, "sha256": entry.sha256, "size": entry.size},
    )
    return entry


def claimable(
    session: Session, principal: Principal, task: RoadmapTask, file_ids: list[str]
) -> list[EvidenceFile]:
    """The files a progress report may name: each of the caller's agency, of this task, not yet in a report.

    Checked before the report is written, so a refused file leaves nothing behind.
    """
    if len(file_ids) > PER_REPORT:
        raise BadRequest("evidence_too_many", "At most {limit} files per report", limit=PER_REPORT)
    files = []
    for file_id in file_ids:
        f = session.get(EvidenceFile, file_id)
        if (
            f is None
            or f.task_id != task.id
            or f.progress_id is not None
            or (not principal.is_platform_admin and f.agency_code != principal.agency_code)
        ):
            raise BadRequest(
                "evidence_file_invalid",
                "Evidence file {id} was not uploaded by your agency for this task, or is already in a report",
                id=file_id,
            )
        files.append(f)
    return files


def readable_file(session: Session, principal: Principal, file_id: str) -> EvidenceFile:
    """The file, if the caller may download it (its agency, leaders, platform administrators); audited."""
    from tinhso.governance.service import require_reader, sees_everything

    require_reader(principal)
    f = session.get(EvidenceFile, file_id)
    if f is None or not (sees_everything(principal) or f.agency_code == principal.agency_code):
        raise NotFound("evidence_not_found", "Evidence file {id} not found", id=file_id)
    audit.record(
        session,
        "governance.evidence.download",
        object_type="governance_evidence_file",
        object_id=f.id,
        detail={"sha256": f.sha256},
    )
    return f
