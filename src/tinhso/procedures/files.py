"""File storage for attachments and e-data documents: content-addressed files under the var dir, with checks."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from tinhso.kit.db import new_id
from tinhso.kit.errors import PayloadTooLarge, Unprocessable
from tinhso.settings import get_settings

MAX_BYTES = 5 * 1024 * 1024
MEDIA_TYPES = {"application/pdf", "image/jpeg", "image/png", "text/plain"}


@dataclass(frozen=True)
class Stored:
    storage_key: str
    sha256: str
    size: int
    media_type: str


def root() -> Path:
    path = get_settings().var_dir / "procedures" / "files"
    path.mkdir(parents=True, exist_ok=True)
    return path


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are (of the types the platform accepts), or None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if b"\x00" not in data:
        try:
            data.decode("utf-8")
            return "text/plain"
        except UnicodeDecodeError:
            return None
    return None


def check(data: bytes, claimed: str | None) -> str:
    """Refuse files that are too large, empty, of a type not accepted, or not what they claim to be."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(
            "attachment_too_large", "The file is larger than {mb} MB", mb=MAX_BYTES // 2**20
        )
    if not data:
        raise Unprocessable("attachment_empty", "The file is empty")
    actual = sniff(data)
    claimed = (claimed or "").split(";")[0].strip().lower()
    if actual is None or actual not in MEDIA_TYPES:
        raise Unprocessable("attachment_type_not_allowed", "Only PDF, JPEG, PNG and text files are accepted")
    if claimed and claimed != "application/octet-stream" and claimed != actual:
        raise Unprocessable(
            "attachment_type_mismatch",
            "The file claims to be {claimed} but is {actual}",
            claimed=claimed,
            actual=actual,
        )
    return actual


def store(data: bytes, claimed: str | None) -> Stored:
    media_type = check(data, claimed)
    digest = hashlib.sha256(data).hexdigest()
    key = f"{digest[:2]}/{digest}-{new_id()[:8]}"
    path = root() / key
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return Stored(key, digest, len(data), media_type)


def read(storage_key: str) -> bytes:
    path = (root() / storage_key).resolve()
    if root().resolve() not in path.parents:
        raise Unprocessable("bad_storage_key", "Invalid file reference")
    return path.read_bytes()
