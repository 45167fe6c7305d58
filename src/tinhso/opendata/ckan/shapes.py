"""CKAN's dict shapes for datasets ("packages"), resources, organisations, groups, tags and licences."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.opendata.licenses import LICENSES, License, resolve
from tinhso.opendata.models import Dataset, DatasetGroup, Group, Organization, Resource

# Our DCAT-AP fields travel as top-level keys (like ckanext-scheming) and are accepted back from `extras`.
LIFTED = ("title_en", "frequency", "temporal_start", "temporal_end", "spatial", "language", "featured")


def iso(value: datetime | None) -> str | None:
    """CKAN's timestamp style: ISO-8601, UTC, without an offset."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def license_dict(lic: License) -> dict[str, Any]:
    return {
        "id": lic.id,
        "title": lic.title,
        "title_en": lic.title_en,
        "url": lic.url,
        "status": "active",
        "maintainer": "",
        "family": "",
        "od_conformance": "approved" if lic.open else "not reviewed",
        "osd_conformance": "not reviewed",
        "domain_content": True,
        "domain_data": True,
        "domain_software": False,
        "is_generic": False,
        "is_okd_compliant": lic.open,
        "is_osi_compliant": False,
    }


def all_licenses() -> list[dict[str, Any]]:
    return [license_dict(lic) for lic in LICENSES]


def organization_dict(org: Organization, agency: Agency, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": org.agency_code,
        "name": org.name,
        "title": agency.name,
        "title_en": agency.name_en,
        "display_name": agency.name,
        "type": "organization",
        "is_organization": True,
        "state": "active" if agency.active else "deleted",
        "approval_status": "approved",
        "description": org.description or "",
        "image_url": "",
        "image_display_url": "",
        "created": iso(org.created_at),
        "agency_code": org.agency_code,
    }
    if count is not None:
        out["package_count"] = count
    return out


def group_dict(group: Group, count: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "title": group.title,
        "title_en": group.title_en,
        "display_name": group.title,
        "type": "group",
        "is_organization": False,
        "state": "active",
        "approval_status": "approved",
        "description": group.description or "",
        "image_url": "",
        "image_display_url": "",
        "created": iso(group.created_at),
    }
    if count is not None:
        out["package_count"] = count
    return out


def resource_dict(res: Any, base_url: str) -> dict[str, Any]:
    url = res.url or ""
    if url.startswith("/"):
        url = base_url.rstrip("/") + url
    if res.url_type == "datastore" and not url:
        url = f"{base_url.rstrip('/')}/datastore/dump/{res.id}"
    return {
        "id": res.id,
        "package_id": res.dataset_id,
        "position": res.position,
        "name": res.name,
        "description": res.description or "",
        "format": res.format or "",
        "url": url,
        "url_type": res.url_type,
        "mimetype": res.mimetype,
        "mimetype_inner": None,
        "size": res.size,
        "hash": res.hash or "",
        "state": "active",
        "resource_type": None,
        "cache_url": None,
        "datastore_active": res.datastore_active,
        "created": iso(res.created),
        "last_modified": iso(res.last_modified),
        "metadata_modified": iso(res.last_modified or res.created),
        **{k: v for k, v in (res.extras or {}).items() if isinstance(k, str) and not k.startswith("_")},
    }


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def package_dicts(session: Session, ids: list[str], base_url: str) -> list[dict[str, Any]]:
    """Full CKAN dataset dicts for `ids`, in that order, with a fixed number of queries (no N+1)."""
    if not ids:
        return []
    # Core rows, not ORM objects: search pages shape up to 1000 datasets and identity maps cost time.
    datasets = {d.id: d for d in session.execute(select(Dataset.__table__).where(Dataset.id.in_(ids)))}
    resources: dict[str, list[Any]] = defaultdict(list)
    for res in session.execute(
        select(Resource.__table__)
        .where(Resource.dataset_id.in_(ids))
        .order_by(Resource.position, Resource.id)
    ):
        resources[res.dataset_id].append(res)
    codes = {d.owner_org for d in datasets.values()}
    orgs = {
        o.agency_code: o
        for o in session.scalars(select(Organization).where(Organization.agency_code.in_(codes)))
    }
    agencies = {a.code: a for a in session.scalars(select(Agency).where(Agency.code.in_(codes)))}
    groups: dict[str, list[Group]] = defaultdict(list)
    for dataset_id, group in session.execute(
        select(DatasetGroup.dataset_id, Group)
        .join(Group, Group.id == DatasetGroup.group_id)
        .where(DatasetGroup.dataset_id.in_(ids))
    ):
        groups[dataset_id].append(group)
    out = []
    for dataset_id in ids:
        d = datasets.get(dataset_id)
        if d is None:
            continue
        lic = resolve(d.license_id)
        org, agency = orgs.get(d.owner_org), agencies.get(d.owner_org)
        extras = dict(d.extras or {})
        lifted = {
            "title_en": d.title_en,
            "frequency": d.frequency,
            "temporal_start": _date(d.temporal_start),
            "temporal_end": _date(d.temporal_end),
            "spatial": d.spatial,
            "language": d.language,
            "featured": d.featured,
        }
        tags = sorted(d.tag_names or [])
        out.append(
            {
                "id": d.id,
                "name": d.name,
                "title": d.title,
                "type": "dataset",
                "state": d.state,
                "private": d.private,
                "owner_org": d.owner_org,
                "organization": organization_dict(org, agency) if org and agency else None,
                "notes": d.notes or "",
                "url": d.url or "",
                "version": d.version or "",
                "author": d.author or "",
                "author_email": d.author_email or "",
                "maintainer": d.maintainer or "",
                "maintainer_email": d.maintainer_email or "",
                "license_id": d.license_id or "",
                "license_title": lic.title if lic else "",
                "license_url": lic.url if lic else "",
                "isopen": bool(lic and lic.open),
                "metadata_created": iso(d.metadata_created),
                "metadata_modified": iso(d.metadata_modified),
                "creator_user_id": d.creator_user_id,
                "num_resources": len(resources[d.id]),
                "num_tags": len(tags),
                "tags": [
                    {"id": t, "name": t, "display_name": t, "state": "active", "vocabulary_id": None}
                    for t in tags
                ],
                "groups": [
                    {
                        "id": g.id,
                        "name": g.name,
                        "title": g.title,
                        "display_name": g.title,
                        "description": g.description or "",
                        "image_display_url": "",
                    }
                    for g in sorted(groups[d.id], key=lambda g: g.name)
                ],
                "extras": [
                    {"key": k, "value": v if isinstance(v, str) else json.dumps(v)}
                    for k, v in sorted(extras.items())
                ],
                "relationships_as_subject": [],
                "relationships_as_object": [],
                "resources": [resource_dict(r, base_url) for r in resources[d.id]],
                "quality_score": d.quality_score,
                **lifted,
            }
        )
    return out


def package_counts(session: Session, public_only: bool = True) -> dict[str, int]:
    stmt = select(Dataset.owner_org, func.count()).where(Dataset.state == "active")
    if public_only:
        stmt = stmt.where(Dataset.private.is_(False))
    return {code: n for code, n in session.execute(stmt.group_by(Dataset.owner_org))}


def group_counts(session: Session) -> dict[str, int]:
    stmt = (
        select(DatasetGroup.group_id, func.count())
        .join(Dataset, Dataset.id == DatasetGroup.dataset_id)
        .where(Dataset.state == "active", Dataset.private.is_(False))
        .group_by(DatasetGroup.group_id)
    )
    return {gid: n for gid, n in session.execute(stmt)}


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on")


def dataset_input(data: dict[str, Any]) -> dict[str, Any]:
    """A CKAN package dict (from a client, a dump or a form) as our DatasetIn data."""
    out: dict[str, Any] = {}
    plain = [
        "name",
        "title",
        "notes",
        "license_id",
        "url",
        "version",
        "author",
        "author_email",
        "maintainer",
        "maintainer_email",
        "spatial",
        "language",
        "title_en",
        "frequency",
        "temporal_start",
        "temporal_end",
    ]
    extras: dict[str, str] = {}
    raw_extras = data.get("extras") or []
    if isinstance(raw_extras, str):
        try:
            raw_extras = json.loads(raw_extras)
        except ValueError:
            raw_extras = []
    if isinstance(raw_extras, dict):
        raw_extras = [{"key": k, "value": v} for k, v in raw_extras.items()]
    for item in raw_extras if isinstance(raw_extras, list) else []:
        if isinstance(item, dict) and "key" in item:
            key, value = str(item["key"]), item.get("value")
            if key in LIFTED and key not in data:
                data = {**data, key: value}
            elif key not in LIFTED:
                extras[key] = "" if value is None else str(value)
    for key in plain:
        if key in data:
            value = data[key]
            out[key] = None if value in ("", None) else value
    for key in ("private", "featured"):
        if key in data and data[key] not in (None, ""):
            out[key] = _truthy(data[key])
    if data.get("state") in ("active", "draft"):
        out["state"] = data["state"]
    owner = data.get("owner_org")
    if not owner and isinstance(data.get("organization"), dict):
        owner = data["organization"].get("name") or data["organization"].get("id")
    if owner:
        out["owner_org"] = str(owner)
    if "tags" in data or "tag_string" in data:
        tags = data.get("tags")
        if isinstance(tags, str):
            try:
                tags = json.loads(tags)
            except ValueError:
                tags = [t for t in tags.split(",")]
        names = [t.get("name") if isinstance(t, dict) else t for t in (tags or [])]
        if data.get("tag_string"):
            names += [t for t in str(data["tag_string"]).split(",")]
        out["tags"] = [str(n).strip() for n in names if n and str(n).strip()]
    if "groups" in data:
        groups = data.get("groups") or []
        if isinstance(groups, str):
            try:
                groups = json.loads(groups)
            except ValueError:
                groups = [groups]
        out["groups"] = [str(g.get("name") or g.get("id")) if isinstance(g, dict) else str(g) for g in groups]
    if extras or "extras" in data:
        out["extras"] = extras
    if "resources" in data:
        resources = data.get("resources")
        if isinstance(resources, str):
            try:
                resources = json.loads(resources)
            except ValueError:
                resources = None
        out["resources"] = [resource_input(r) for r in resources or [] if isinstance(r, dict)]
    return out


def resource_input(data: dict[str, Any]) -> dict[str, Any]:
    out = {
        k: data[k]
        for k in ("id", "name", "description", "format", "url", "mimetype")
        if data.get(k) not in (None, "")
    }
    known = set(out) | {
        "package_id",
        "upload",
        "position",
        "created",
        "last_modified",
        "metadata_modified",
        "state",
        "url_type",
        "size",
        "hash",
        "datastore_active",
        "resource_type",
        "cache_url",
        "mimetype_inner",
        "package_name",
    }
    out["extras"] = {
        k: v for k, v in data.items() if k not in known and isinstance(v, str | int | float | bool)
    }
    return out
