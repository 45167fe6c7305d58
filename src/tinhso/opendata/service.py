"""Rules of the open-data portal: who may publish, datasets and resources, quality score, search text.

Every write is audited and announced (`opendata.dataset.changed`) in the caller's transaction; the service
never commits.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit import audit, events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import Forbidden, NotFound
from tinhso.kit.text import fold
from tinhso.opendata import datastore
from tinhso.opendata.config import get_opendata_settings
from tinhso.opendata.errors import ValidationFailed, invalid
from tinhso.opendata.licenses import resolve
from tinhso.opendata.models import (
    Dataset,
    DatasetGroup,
    DatasetTag,
    Group,
    Organization,
    Resource,
    ResourceFile,
)
from tinhso.opendata.schemas import UPLOAD_FORMATS, DatasetIn, ResourceIn

EDITOR_ROLES = ("official", "agency_admin")
MACHINE_FORMATS = {"CSV", "JSON", "XLSX", "PARQUET", "GEOJSON", "XML", "API", "TTL", "JSONLD"}
FREQUENCY_DAYS = {"DAILY": 2, "WEEKLY": 8, "MONTHLY": 32, "QUARTERLY": 93, "BIANNUAL": 184, "ANNUAL": 366}


# --- organisations -------------------------------------------------------------------------------------------


def slug(text: str, limit: int = 90) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-")[:limit].strip("-")


def organization_of(session: Session, agency_code: str) -> Organization:
    """The publisher record of an agency, created on first use with a readable URL name."""
    org = session.get(Organization, agency_code)
    if org is not None:
        return org
    agency = session.get(Agency, agency_code)
    if agency is None:
        raise invalid("owner_org", f"unknown organization '{agency_code}'")
    base = slug(agency.name) or slug(agency_code)
    name = base
    if session.scalar(select(Organization.agency_code).where(Organization.name == name)) is not None:
        name = f"{base[:70]}-{slug(agency_code)}"
    org = Organization(agency_code=agency_code, name=name)
    session.add(org)
    session.flush()
    return org


def find_organization(session: Session, ref: str) -> Organization | None:
    org = session.scalar(select(Organization).where(Organization.name == ref))
    if org is None and session.get(Agency, ref) is not None:
        org = organization_of(session, ref)
    return org


def ensure_organizations(session: Session) -> int:
    """A publisher record for every active agency (reference data)."""
    existing = set(session.scalars(select(Organization.agency_code)))
    codes = [
        c for c in session.scalars(select(Agency.code).where(Agency.active.is_(True)).order_by(Agency.code))
    ]
    for code in codes:
        if code not in existing:
            organization_of(session, code)
    return len(codes)


# --- permissions ---------------------------------------------------------------------------------------------


def can_edit(principal: Principal | None, agency_code: str) -> bool:
    """Platform admins everywhere; officials and agency admins of the publisher; its systems with the scope."""
    if principal is None:
        return False
    if principal.is_platform_admin:
        return True
    if principal.agency_code != agency_code:
        return False
    if principal.is_system:
        return principal.has_scope("opendata:write")
    return principal.has_role(*EDITOR_ROLES)


def editable_orgs(principal: Principal | None) -> set[str] | None:
    """Agencies whose private datasets the caller may see (None = all)."""
    if principal is None:
        return set()
    if principal.is_platform_admin:
        return None
    if principal.agency_code and (principal.is_system or principal.has_role(*EDITOR_ROLES)):
        return {principal.agency_code}
    return set()


def require_edit(principal: Principal | None, agency_code: str) -> None:
    if not can_edit(principal, agency_code):
        raise Forbidden(
            "opendata_not_publisher",
            "Only publishers of {agency} may change its datasets",
            agency=agency_code,
        )


# --- datasets ------------------------------------------------------------------------------------------------


def _load(session: Session, ref: str) -> Dataset | None:
    stmt = select(Dataset).options(selectinload(Dataset.resources))
    found = session.scalar(stmt.where(Dataset.id == ref))
    return found or session.scalar(stmt.where(Dataset.name == ref))


def get_dataset(session: Session, ref: str, principal: Principal | None, for_edit: bool = False) -> Dataset:
    """A dataset by id or name, if the caller may see it (private and deleted ones only for its publishers)."""
    dataset = _load(session, ref) if ref else None
    if dataset is None:
        raise NotFound("dataset_not_found", "Dataset {ref} not found", ref=ref)
    editor = can_edit(principal, dataset.owner_org)
    if (dataset.private or dataset.state != "active") and not editor:
        raise NotFound("dataset_not_found", "Dataset {ref} not found", ref=ref)
    if for_edit:
        require_edit(principal, dataset.owner_org)
    return dataset


def _groups(session: Session, names: list[str]) -> list[Group]:
    found = list(session.scalars(select(Group).where(Group.name.in_(names) | Group.id.in_(names))))
    known = {g.name for g in found} | {g.id for g in found}
    missing = [n for n in names if n not in known]
    if missing:
        raise invalid("groups", f"unknown group(s): {', '.join(missing)}")
    return found


def _apply(session: Session, dataset: Dataset, data: DatasetIn) -> None:
    for name in (
        "name",
        "title",
        "title_en",
        "notes",
        "license_id",
        "url",
        "version",
        "author",
        "author_email",
        "maintainer",
        "maintainer_email",
        "private",
        "state",
        "featured",
        "frequency",
        "temporal_start",
        "temporal_end",
        "spatial",
        "language",
        "extras",
    ):
        setattr(dataset, name, getattr(data, name))
    if data.temporal_start and data.temporal_end and data.temporal_end < data.temporal_start:
        raise invalid("temporal_end", "the end of the temporal coverage is before its start")
    dataset.tag_names = list(data.tags)
    session.execute(delete(DatasetTag).where(DatasetTag.dataset_id == dataset.id))
    session.add_all([DatasetTag(dataset_id=dataset.id, name=t) for t in data.tags])
    groups = _groups(session, data.groups) if data.groups else []
    session.execute(delete(DatasetGroup).where(DatasetGroup.dataset_id == dataset.id))
    session.add_all([DatasetGroup(dataset_id=dataset.id, group_id=g.id) for g in groups])


def _owner(session: Session, principal: Principal | None, ref: str | None) -> str:
    if not ref:
        if principal is None or not principal.agency_code:
            raise invalid("owner_org", "a dataset needs an organization")
        return principal.agency_code
    org = find_organization(session, ref)
    if org is None:
        raise invalid("owner_org", f"unknown organization '{ref}'")
    return org.agency_code


def create_dataset(session: Session, principal: Principal | None, data: DatasetIn) -> Dataset:
    owner = _owner(session, principal, data.owner_org)
    require_edit(principal, owner)
    organization_of(session, owner)
    if session.scalar(select(Dataset.id).where(Dataset.name == data.name)) is not None:
        raise ValidationFailed(
            {"name": ["That URL is already in use."]},
            "opendata_name_taken",
            "Name {name} is taken",
            name=data.name,
        )
    now = utcnow()
    dataset = Dataset(
        owner_org=owner,
        creator_user_id=principal.id if principal else None,
        metadata_created=now,
        metadata_modified=now,
    )
    dataset.name, dataset.title = data.name, data.title
    session.add(dataset)
    session.flush()
    _apply(session, dataset, data)
    for position, res in enumerate(data.resources or []):
        _new_resource(session, dataset, res, position)
    _saved(session, dataset, "opendata.dataset.create")
    return dataset


def update_dataset(session: Session, principal: Principal | None, ref: str, data: DatasetIn) -> Dataset:
    dataset = get_dataset(session, ref, principal, for_edit=True)
    if data.owner_org:
        owner = _owner(session, principal, data.owner_org)
        if owner != dataset.owner_org:
            require_edit(principal, owner)
            organization_of(session, owner)
            dataset.owner_org = owner
    if data.name != dataset.name and session.scalar(select(Dataset.id).where(Dataset.name == data.name)):
        raise ValidationFailed(
            {"name": ["That URL is already in use."]},
            "opendata_name_taken",
            "Name {name} is taken",
            name=data.name,
        )
    _apply(session, dataset, data)
    if data.resources is not None:
        keep = {r.id for r in data.resources if r.id}
        by_id = {r.id: r for r in dataset.resources}
        for res in list(dataset.resources):
            if res.id not in keep:
                dataset.resources.remove(res)
                datastore.drop_table(session, res)
                session.delete(res)
        for position, res_in in enumerate(data.resources):
            if res_in.id and res_in.id in by_id:
                _set_resource(by_id[res_in.id], res_in)
                by_id[res_in.id].position = position
            else:
                _new_resource(session, dataset, res_in, position)
    _saved(session, dataset, "opendata.dataset.update")
    return dataset


def dataset_input(dataset: Dataset, session: Session) -> dict[str, Any]:
    """The dataset as DatasetIn data (the base of a patch)."""
    groups = list(
        session.scalars(
            select(Group.name)
            .join(DatasetGroup, DatasetGroup.group_id == Group.id)
            .where(DatasetGroup.dataset_id == dataset.id)
        )
    )
    data = {
        name: getattr(dataset, name)
        for name in [
            "name",
            "title",
            "title_en",
            "notes",
            "license_id",
            "url",
            "version",
            "author",
            "author_email",
            "maintainer",
            "maintainer_email",
            "private",
            "state",
            "featured",
            "frequency",
            "temporal_start",
            "temporal_end",
            "spatial",
            "language",
            "extras",
        ]
    }
    data.update(owner_org=dataset.owner_org, tags=list(dataset.tag_names or []), groups=groups)
    return data


def delete_dataset(session: Session, principal: Principal | None, ref: str) -> Dataset:
    dataset = get_dataset(session, ref, principal, for_edit=True)
    dataset.state = "deleted"
    dataset.metadata_modified = utcnow()
    audit.record(session, "opendata.dataset.delete", object_type="opendata.dataset", object_id=dataset.id)
    events.publish(
        session,
        "opendata.dataset.changed",
        {"id": dataset.id, "name": dataset.name, "state": "deleted"},
        key=dataset.id,
    )
    return dataset


def _saved(session: Session, dataset: Dataset, action: str) -> None:
    dataset.metadata_modified = utcnow()
    session.flush()
    refresh_derived(session, dataset)
    audit.record(
        session, action, object_type="opendata.dataset", object_id=dataset.id, detail={"name": dataset.name}
    )
    events.publish(
        session,
        "opendata.dataset.changed",
        {"id": dataset.id, "name": dataset.name, "state": dataset.state},
        key=dataset.id,
    )


def refresh_derived(session: Session, dataset: Dataset) -> None:
    """Recompute what is derived from the metadata: the folded search text and the quality score."""
    session.flush()
    resources = list(session.scalars(select(Resource).where(Resource.dataset_id == dataset.id)))
    agency = session.get(Agency, dataset.owner_org)
    group_titles = list(
        session.scalars(
            select(Group.title)
            .join(DatasetGroup, DatasetGroup.group_id == Group.id)
            .where(DatasetGroup.dataset_id == dataset.id)
        )
    )
    parts = [dataset.name.replace("-", " "), dataset.title, dataset.title_en or "", dataset.notes or ""]
    parts += list(dataset.tag_names or []) + [r.name for r in resources] + [r.format or "" for r in resources]
    parts += [agency.name if agency else "", agency.short_name or "" if agency else ""] + group_titles
    dataset.search_text = fold(" ".join(p for p in parts if p))
    dataset.quality_score = quality(dataset, resources)["score"]


def quality(dataset: Dataset, resources: list[Resource]) -> dict[str, Any]:
    """Metadata quality (0-100) with the checks a publisher can act on."""
    lic = resolve(dataset.license_id)
    formats = {(r.format or "").upper() for r in resources}
    checks = {
        "description": (15, bool(dataset.notes and len(dataset.notes) >= 80)),
        "license": (15, bool(lic and lic.open)),
        "temporal": (10, dataset.temporal_start is not None),
        "spatial": (10, bool(dataset.spatial)),
        "frequency": (10, dataset.frequency is not None),
        "tags": (10, bool(dataset.tag_names)),
        "resources": (10, bool(resources)),
        "machine_readable": (10, bool(formats & MACHINE_FORMATS)),
        "fresh": (10, _fresh(dataset, resources)),
    }
    score = sum(points for points, ok in checks.values() if ok)
    return {"score": score, "checks": {k: {"points": p, "ok": ok} for k, (p, ok) in checks.items()}}


def _fresh(dataset: Dataset, resources: list[Resource]) -> bool:
    last = max([r.last_modified or r.created for r in resources] + [dataset.metadata_modified], default=None)
    if last is None or dataset.frequency is None:
        return False
    days = FREQUENCY_DAYS.get(dataset.frequency)
    if days is None:
        return dataset.frequency in ("NEVER", "IRREG", "CONT")
    return datetime.now(UTC) - last <= timedelta(days=days * 1.5)


# --- resources -----------------------------------------------------------------------------------------------


def _set_resource(resource: Resource, data: ResourceIn) -> None:
    for name in ("name", "description", "mimetype", "extras"):
        value = getattr(data, name)
        if value is not None:
            setattr(resource, name, value)
    if data.format:
        resource.format = data.format.upper()
    if data.url is not None and resource.url_type not in ("upload", "datastore"):
        resource.url = data.url
    resource.last_modified = utcnow()


def _new_resource(session: Session, dataset: Dataset, data: ResourceIn, position: int) -> Resource:
    resource = Resource(dataset_id=dataset.id, position=position, name=data.name or data.url or "resource")
    if data.id and session.get(Resource, data.id) is None and re.fullmatch(r"[0-9a-f]{32}", data.id):
        resource.id = data.id
    _set_resource(resource, data)
    if not resource.format and resource.url:
        resource.format = _ext(resource.url).upper() or None
    session.add(resource)
    session.flush()
    return resource


def _ext(name: str) -> str:
    tail = name.rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[-1].lower() if "." in tail else ""


def get_resource(
    session: Session, resource_id: str, principal: Principal | None, for_edit: bool = False
) -> Resource:
    resource = session.get(Resource, resource_id) if resource_id else None
    if resource is None:
        raise NotFound("resource_not_found", "Resource {id} not found", id=resource_id)
    get_dataset(session, resource.dataset_id, principal, for_edit=for_edit)
    return resource


def _check_upload(filename: str, content: bytes, declared: str | None) -> tuple[str, str]:
    limit = get_opendata_settings().upload_max_bytes
    if len(content) > limit:
        raise ValidationFailed(
            {"upload": [f"File upload too large: {len(content)} bytes (at most {limit})"]},
            "opendata_upload_too_large",
            "The file is larger than {limit} bytes",
            limit=limit,
        )
    ext = _ext(filename)
    if ext not in UPLOAD_FORMATS:
        raise ValidationFailed(
            {"upload": [f"Unsupported file type '.{ext}'; allowed: {', '.join(sorted(UPLOAD_FORMATS))}"]},
            "opendata_upload_type",
            "Files of type {ext} cannot be uploaded",
            ext=ext,
        )
    magic = {"xlsx": b"PK", "zip": b"PK", "parquet": b"PAR1", "pdf": b"%PDF"}
    ok = content.startswith(magic[ext]) if ext in magic else _is_text(content, ext)
    if not ok:
        raise ValidationFailed(
            {"upload": [f"The content is not a valid {ext.upper()} file"]},
            "opendata_upload_content",
            "The content of the file does not match its type {ext}",
            ext=ext,
        )
    if declared and declared.upper() != ext.upper() and not (declared.upper() == "GEOJSON" and ext == "json"):
        raise invalid("format", f"the file is {ext.upper()}, not {declared.upper()}")
    return ext, UPLOAD_FORMATS[ext]


def _is_text(content: bytes, ext: str) -> bool:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False
    if "\x00" in text:
        return False
    if ext in ("json", "geojson"):
        import json

        try:
            json.loads(text)
        except ValueError:
            return False
    return True


def create_resource(
    session: Session,
    principal: Principal | None,
    dataset_ref: str,
    data: ResourceIn,
    upload: tuple[str, bytes] | None = None,
) -> Resource:
    dataset = get_dataset(session, dataset_ref, principal, for_edit=True)
    if upload is None and not data.url:
        raise invalid("url", "give a url or upload a file")
    position = (
        session.scalar(select(func.max(Resource.position)).where(Resource.dataset_id == dataset.id)) or 0
    ) + 1
    resource = _new_resource(session, dataset, data, position)
    if upload is not None:
        _store_upload(session, resource, data, upload)
    _saved(session, dataset, "opendata.dataset.update")
    audit.record(session, "opendata.resource.create", object_type="opendata.resource", object_id=resource.id)
    return resource


def update_resource(
    session: Session,
    principal: Principal | None,
    resource_id: str,
    data: ResourceIn,
    upload: tuple[str, bytes] | None = None,
) -> Resource:
    resource = get_resource(session, resource_id, principal, for_edit=True)
    _set_resource(resource, data)
    if upload is not None:
        _store_upload(session, resource, data, upload)
    dataset = get_dataset(session, resource.dataset_id, principal, for_edit=True)
    _saved(session, dataset, "opendata.dataset.update")
    audit.record(session, "opendata.resource.update", object_type="opendata.resource", object_id=resource.id)
    return resource


def _store_upload(session: Session, resource: Resource, data: ResourceIn, upload: tuple[str, bytes]) -> None:
    filename, content = upload
    filename = re.sub(r"[^A-Za-z0-9._-]+", "_", filename.rsplit("/", 1)[-1])[:200] or "upload"
    ext, mimetype = _check_upload(filename, content, data.format)
    stored = session.get(ResourceFile, resource.id)
    if stored is None:
        stored = ResourceFile(resource_id=resource.id, filename=filename, content=content)
        session.add(stored)
    else:
        stored.filename, stored.content = filename, content
    resource.url_type = "upload"
    resource.url = f"/opendata/file/{resource.id}/{filename}"
    resource.format = ext.upper()
    resource.mimetype = mimetype
    resource.size = len(content)
    resource.hash = "sha256:" + hashlib.sha256(content).hexdigest()
    if not data.name:
        resource.name = filename
    session.flush()
    if ext == "csv":
        datastore.load_csv(session, resource, content)
