"""The CKAN actions: each takes the call context and the request's data dict and returns the `result`.

Defaults and caps follow CKAN: package_search rows 10 (silently clamped to 1000), facet.limit 50,
organization/group lists 1000 names or 25 dicts, DataStore limit 100 (clamped to 32000).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.identity.models import Agency
from tinhso.identity.principal import Principal
from tinhso.kit.errors import Forbidden, NotFound
from tinhso.opendata import datastore, service
from tinhso.opendata.ckan import shapes
from tinhso.opendata.ckan.fq import parse_fq, parse_q, parse_sort
from tinhso.opendata.config import get_opendata_settings
from tinhso.opendata.errors import ValidationFailed, invalid
from tinhso.opendata.models import Dataset, DatasetTag, Group, Organization, Resource
from tinhso.opendata.schemas import DatasetIn, ResourceIn, validated
from tinhso.opendata.search import Visibility, search

ROWS_DEFAULT, ROWS_MAX = 10, 1000
LIST_MAX, LIST_ALL_FIELDS_MAX = 1000, 25


@dataclass
class Context:
    session: Session
    principal: Principal | None
    base_url: str
    files: dict[str, tuple[str, bytes]]
    action_url: str = ""


@dataclass
class Action:
    fn: Callable[[Context, dict[str, Any]], Any]
    write: bool = False


ACTIONS: dict[str, Action] = {}


def action(
    name: str, write: bool = False
) -> Callable[[Callable[[Context, dict[str, Any]], Any]], Callable[[Context, dict[str, Any]], Any]]:
    def register(fn: Callable[[Context, dict[str, Any]], Any]) -> Callable[[Context, dict[str, Any]], Any]:
        ACTIONS[name] = Action(fn, write)
        return fn

    return register


# --- parameter helpers ---------------------------------------------------------------------------------------


def _int(data: dict[str, Any], key: str, default: int | None, maximum: int | None = None) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationFailed({key: ["Invalid integer"]}) from None
    if number < 0:
        raise ValidationFailed({key: ["Must be a natural number"]})
    return min(number, maximum) if maximum is not None else number


def _bool(data: dict[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValidationFailed({key: ["Value must be a boolean"]})


def _json_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except ValueError:
                raise ValidationFailed({key: ["Could not parse as valid JSON"]}) from None
        else:
            value = [text]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationFailed({key: ["Must be a list of strings"]})
    return value


def _json_obj(data: dict[str, Any], key: str) -> Any:
    value = data.get(key)
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            raise ValidationFailed({key: ["Could not parse as valid JSON"]}) from None
    return value


def _id(data: dict[str, Any], key: str = "id") -> str:
    value = data.get(key)
    if not value or not isinstance(value, str):
        raise ValidationFailed({key: ["Missing value"]})
    return value


# --- reads ---------------------------------------------------------------------------------------------------


@action("status_show")
def status_show(ctx: Context, data: dict[str, Any]) -> Any:
    """Site information: title, URL, default locale, extensions and the CKAN API version we follow."""
    settings = get_opendata_settings()
    return {
        "site_title": settings.site_title,
        "site_description": "Cổng dữ liệu mở tỉnh Nghệ An — Nghệ An open data portal (tinhso)",
        "site_url": ctx.base_url,
        "error_emails_to": None,
        "locale_default": "vi",
        "extensions": ["datastore", "dcat", "tinhso"],
        "ckan_version": "2.11.0",
    }


@action("help_show")
def help_show(ctx: Context, data: dict[str, Any]) -> Any:
    """The documentation of an action (`name`)."""
    name = _id(data, "name")
    spec = ACTIONS.get(name)
    if spec is None:
        raise NotFound("opendata_action_not_found", "Action {name} not found", name=name)
    return (spec.fn.__doc__ or "").strip()


@action("package_list")
def package_list(ctx: Context, data: dict[str, Any]) -> Any:
    """Names of the active public datasets, by name; `limit`, `offset`."""
    limit = _int(data, "limit", None)
    offset = _int(data, "offset", 0) or 0
    stmt = (
        select(Dataset.name)
        .where(Dataset.state == "active", Dataset.private.is_(False))
        .order_by(Dataset.name)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(ctx.session.scalars(stmt.offset(offset)))


def _search(ctx: Context, data: dict[str, Any]) -> dict[str, Any]:
    rows = _int(data, "rows", ROWS_DEFAULT, ROWS_MAX) or 0
    start = _int(data, "start", 0) or 0
    text, q_filters = parse_q(data.get("q") if isinstance(data.get("q"), str) else None)
    fq = data.get("fq")
    filters = parse_fq(fq if isinstance(fq, str | list) else None)
    if data.get("fq_list"):
        filters.extend(parse_fq(_json_list(data, "fq_list")))
    filters.extend(q_filters)
    sort_text = data.get("sort") if isinstance(data.get("sort"), str) else None
    sort = parse_sort(sort_text)
    facet_fields = _json_list(data, "facet.field") if _bool(data, "facet", True) else []
    facet_limit = _int(data, "facet.limit", 50) or 0
    if facet_limit == 0 and data.get("facet.limit") not in (None, ""):
        facet_fields = []
    mincount = _int(data, "facet.mincount", 1) or 1
    include_private = _bool(data, "include_private", False)
    visibility = Visibility(include_private, service.editable_orgs(ctx.principal))
    if _bool(data, "include_drafts", False) and ctx.principal is not None:
        visibility.states = ("active", "draft")
    result = search(
        ctx.session,
        text,
        filters,
        sort=sort,
        rows=rows,
        start=start,
        facet_fields=facet_fields,
        facet_limit=facet_limit,
        facet_mincount=mincount,
        visibility=visibility,
    )
    facets = {f: {name: n for name, _, n in items} for f, items in result.facets.items()}
    search_facets = {
        f: {
            "title": f,
            "items": [{"name": name, "display_name": display, "count": n} for name, display, n in items],
        }
        for f, items in result.facets.items()
    }
    return {
        "count": result.count,
        "results": shapes.package_dicts(ctx.session, result.ids, ctx.base_url),
        "facets": facets,
        "search_facets": search_facets,
        "sort": sort_text or "score desc, metadata_modified desc",
    }


@action("package_search")
def package_search(ctx: Context, data: dict[str, Any]) -> Any:
    """Search datasets: `q`, `fq`, `sort`, `rows` (10, at most 1000), `start`, `facet.field`, `facet.limit`,
    `include_private`. Accent- and case-insensitive ("dan so" finds "Dân số")."""
    return _search(ctx, data)


@action("current_package_list_with_resources")
def current_package_list_with_resources(ctx: Context, data: dict[str, Any]) -> Any:
    """The most recently modified datasets with their resources; `limit`, `offset`."""
    limit = _int(data, "limit", ROWS_DEFAULT, ROWS_MAX)
    offset = _int(data, "offset", 0)
    return _search(ctx, {"rows": limit, "start": offset, "sort": "metadata_modified desc"})["results"]


@action("package_show")
def package_show(ctx: Context, data: dict[str, Any]) -> Any:
    """One dataset by `id` or `name`."""
    dataset = service.get_dataset(ctx.session, _id(data), ctx.principal)
    return shapes.package_dicts(ctx.session, [dataset.id], ctx.base_url)[0]


@action("resource_show")
def resource_show(ctx: Context, data: dict[str, Any]) -> Any:
    """One resource by `id`."""
    resource = service.get_resource(ctx.session, _id(data), ctx.principal)
    return shapes.resource_dict(resource, ctx.base_url)


def _orgs(ctx: Context, data: dict[str, Any], names_only_key: str = "all_fields") -> Any:
    all_fields = _bool(data, names_only_key, False)
    limit = _int(
        data,
        "limit",
        LIST_ALL_FIELDS_MAX if all_fields else LIST_MAX,
        LIST_ALL_FIELDS_MAX if all_fields else LIST_MAX,
    )
    offset = _int(data, "offset", 0) or 0
    counts = shapes.package_counts(ctx.session)
    rows = list(
        ctx.session.execute(
            select(Organization, Agency).join(Agency, Agency.code == Organization.agency_code)
        )
    )
    wanted = set(_json_list(data, "organizations"))
    if wanted:
        rows = [r for r in rows if r[0].name in wanted or r[0].agency_code in wanted]
    sort = (data.get("sort") or "title asc").strip().lower()
    key, _, direction = sort.partition(" ")
    sorters = {
        "title": lambda r: r[1].name,
        "name": lambda r: r[0].name,
        "package_count": lambda r: counts.get(r[0].agency_code, 0),
    }
    if key not in sorters or direction.strip() not in ("", "asc", "desc"):
        raise ValidationFailed({"sort": [f"cannot sort by '{sort}'"]})
    rows.sort(key=lambda r: (sorters[key](r), r[0].name), reverse=direction.strip() == "desc")
    rows = rows[offset : offset + (limit or 0)]
    if not all_fields:
        return [org.name for org, _ in rows]
    return [shapes.organization_dict(org, agency, counts.get(org.agency_code, 0)) for org, agency in rows]


@action("organization_list")
def organization_list(ctx: Context, data: dict[str, Any]) -> Any:
    """Publishers (agencies): names, or dicts with `all_fields` (then at most 25 per call); `sort`, `limit`, `offset`."""
    return _orgs(ctx, data)


@action("organization_show")
def organization_show(ctx: Context, data: dict[str, Any]) -> Any:
    """One publisher by `id` (agency code) or `name`; `include_datasets` adds its first 10 datasets."""
    ref = _id(data)
    org = service.find_organization(ctx.session, ref)
    if org is None:
        raise NotFound("opendata_org_not_found", "Organization {ref} not found", ref=ref)
    agency = ctx.session.get(Agency, org.agency_code)
    assert agency is not None
    count = shapes.package_counts(ctx.session).get(org.agency_code, 0)
    out = shapes.organization_dict(org, agency, count)
    if _bool(data, "include_datasets", False):
        out["packages"] = _search(ctx, {"fq": f'organization:"{org.name}"', "rows": 10})["results"]
    out["users"] = []
    return out


@action("group_list")
def group_list(ctx: Context, data: dict[str, Any]) -> Any:
    """Topics: names, or dicts with `all_fields`; `sort`, `limit`, `offset`."""
    all_fields = _bool(data, "all_fields", False)
    limit = _int(
        data,
        "limit",
        LIST_ALL_FIELDS_MAX if all_fields else LIST_MAX,
        LIST_ALL_FIELDS_MAX if all_fields else LIST_MAX,
    )
    offset = _int(data, "offset", 0) or 0
    counts = shapes.group_counts(ctx.session)
    groups = list(ctx.session.scalars(select(Group)))
    sort = (data.get("sort") or "title asc").strip().lower()
    key, _, direction = sort.partition(" ")
    sorters = {
        "title": lambda g: g.title,
        "name": lambda g: g.name,
        "package_count": lambda g: counts.get(g.id, 0),
    }
    if key not in sorters or direction.strip() not in ("", "asc", "desc"):
        raise ValidationFailed({"sort": [f"cannot sort by '{sort}'"]})
    groups.sort(key=lambda g: (sorters[key](g), g.name), reverse=direction.strip() == "desc")
    groups = groups[offset : offset + (limit or 0)]
    if not all_fields:
        return [g.name for g in groups]
    return [shapes.group_dict(g, counts.get(g.id, 0)) for g in groups]


@action("group_show")
def group_show(ctx: Context, data: dict[str, Any]) -> Any:
    """One topic by `id` or `name`; `include_datasets` adds its first 10 datasets."""
    ref = _id(data)
    group = ctx.session.scalar(select(Group).where((Group.name == ref) | (Group.id == ref)))
    if group is None:
        raise NotFound("opendata_group_not_found", "Group {ref} not found", ref=ref)
    out = shapes.group_dict(group, shapes.group_counts(ctx.session).get(group.id, 0))
    if _bool(data, "include_datasets", False):
        out["packages"] = _search(ctx, {"fq": f'groups:"{group.name}"', "rows": 10})["results"]
    out["users"] = []
    return out


@action("tag_list")
def tag_list(ctx: Context, data: dict[str, Any]) -> Any:
    """Tags of public datasets; `query` filters accent-insensitively; `all_fields` gives dicts."""
    from tinhso.kit.text import fold

    stmt = (
        select(DatasetTag.name, func.count())
        .join(Dataset, Dataset.id == DatasetTag.dataset_id)
        .where(Dataset.state == "active", Dataset.private.is_(False))
        .group_by(DatasetTag.name)
        .order_by(DatasetTag.name)
    )
    rows = list(ctx.session.execute(stmt))
    query = data.get("query") or data.get("q")
    if isinstance(query, str) and query.strip():
        needle = fold(query)
        rows = [r for r in rows if needle in fold(r[0])]
    if _bool(data, "all_fields", False):
        return [{"id": n, "name": n, "display_name": n, "vocabulary_id": None, "count": c} for n, c in rows]
    return [n for n, _ in rows]


@action("license_list")
def license_list(ctx: Context, data: dict[str, Any]) -> Any:
    """The licences a dataset can carry."""
    return shapes.all_licenses()


# --- writes --------------------------------------------------------------------------------------------------


def _package_result(ctx: Context, dataset: Dataset) -> Any:
    ctx.session.flush()
    return shapes.package_dicts(ctx.session, [dataset.id], ctx.base_url)[0]


@action("package_create", write=True)
def package_create(ctx: Context, data: dict[str, Any]) -> Any:
    """Create a dataset (publishers of `owner_org`, with an API token)."""
    if ctx.principal is None:
        raise Forbidden("opendata_login", "An API token is required")
    dataset_in = validated(DatasetIn, shapes.dataset_input(data))
    return _package_result(ctx, service.create_dataset(ctx.session, ctx.principal, dataset_in))


@action("package_update", write=True)
def package_update(ctx: Context, data: dict[str, Any]) -> Any:
    """Replace a dataset's metadata (`id` or `name`); resources are kept unless `resources` is given."""
    ref = data.get("id") or data.get("name")
    if not ref:
        raise ValidationFailed({"id": ["Missing value"]})
    dataset = service.get_dataset(ctx.session, str(ref), ctx.principal, for_edit=True)
    incoming = shapes.dataset_input(data)
    incoming.setdefault("name", dataset.name)
    incoming.setdefault("owner_org", dataset.owner_org)
    return _package_result(
        ctx, service.update_dataset(ctx.session, ctx.principal, dataset.id, validated(DatasetIn, incoming))
    )


@action("package_patch", write=True)
def package_patch(ctx: Context, data: dict[str, Any]) -> Any:
    """Change only the given fields of a dataset (`id` or `name`)."""
    dataset = service.get_dataset(ctx.session, _id(data), ctx.principal, for_edit=True)
    merged = service.dataset_input(dataset, ctx.session)
    merged.update(shapes.dataset_input({k: v for k, v in data.items() if k != "id"}))
    return _package_result(
        ctx, service.update_dataset(ctx.session, ctx.principal, dataset.id, validated(DatasetIn, merged))
    )


@action("package_delete", write=True)
def package_delete(ctx: Context, data: dict[str, Any]) -> Any:
    """Delete a dataset (`id` or `name`): it leaves searches and lists but is kept for its publishers."""
    service.delete_dataset(ctx.session, ctx.principal, _id(data))
    return None


def _upload(ctx: Context) -> tuple[str, bytes] | None:
    return ctx.files.get("upload")


@action("resource_create", write=True)
def resource_create(ctx: Context, data: dict[str, Any]) -> Any:
    """Add a resource to `package_id`: a `url`, or a file in `upload` (CSV files also fill the DataStore)."""
    package_id = _id(data, "package_id")
    res_in = validated(ResourceIn, shapes.resource_input(data))
    resource = service.create_resource(ctx.session, ctx.principal, package_id, res_in, _upload(ctx))
    return shapes.resource_dict(resource, ctx.base_url)


@action("resource_update", write=True)
def resource_update(ctx: Context, data: dict[str, Any]) -> Any:
    """Update a resource (`id`); a new file may come in `upload`."""
    res_in = validated(ResourceIn, shapes.resource_input(data))
    resource = service.update_resource(ctx.session, ctx.principal, _id(data), res_in, _upload(ctx))
    return shapes.resource_dict(resource, ctx.base_url)


@action("resource_patch", write=True)
def resource_patch(ctx: Context, data: dict[str, Any]) -> Any:
    """Like resource_update, changing only the given fields."""
    return resource_update(ctx, data)


# --- DataStore -----------------------------------------------------------------------------------------------


def _datastore_resource(ctx: Context, data: dict[str, Any]) -> Resource:
    resource = service.get_resource(ctx.session, _id(data, "resource_id"), ctx.principal)
    if not resource.datastore_active:
        raise NotFound("opendata_no_datastore", "Resource {id} has no DataStore table", id=resource.id)
    return resource


@action("datastore_search")
def datastore_search(ctx: Context, data: dict[str, Any]) -> Any:
    """Records of a resource's table: `resource_id`, `filters`, `q`, `fields`, `sort`, `limit` (100, at most
    32000), `offset`, `include_total`, `records_format` (objects or lists)."""
    resource = _datastore_resource(ctx, data)
    limit = _int(data, "limit", datastore.DEFAULT_LIMIT, datastore.MAX_LIMIT) or 0
    offset = _int(data, "offset", 0) or 0
    filters = _json_obj(data, "filters")
    q = _json_obj(data, "q")
    fields = _json_obj(data, "fields")
    records_format = data.get("records_format") or "objects"
    if records_format not in ("objects", "lists"):
        raise invalid("records_format", "must be objects or lists")
    out = datastore.search(
        ctx.session,
        resource,
        filters=filters,
        q=q,
        fields=fields,
        sort=data.get("sort") if isinstance(data.get("sort"), str) else None,
        limit=limit,
        offset=offset,
        include_total=_bool(data, "include_total", True),
    )
    if records_format == "lists":
        names = [f["id"] for f in out["fields"]]
        out["records"] = [[r.get(n) for n in names] for r in out["records"]]
    out["resource_id"] = resource.id
    out["filters"] = filters or {}
    out["records_format"] = records_format
    if out["total"] is not None:
        out["total_was_estimated"] = False
    base = f"/api/3/action/datastore_search?resource_id={resource.id}"
    out["_links"] = {"start": base, "next": f"{base}&offset={offset + limit}"}
    return out


@action("datastore_info")
def datastore_info(ctx: Context, data: dict[str, Any]) -> Any:
    """A resource's DataStore fields (with their data-dictionary labels) and row count (`id`)."""
    resource = _datastore_resource(ctx, {"resource_id": data.get("id") or data.get("resource_id")})
    return {"meta": {"count": resource.row_count}, "fields": resource.fields}


@action("datastore_search_sql")
def datastore_search_sql(ctx: Context, data: dict[str, Any]) -> Any:
    """One read-only SELECT over DataStore tables named by resource id (off unless
    TINHSO_OPENDATA_SQL_ENABLED=true)."""
    from tinhso.opendata import sqlsearch

    return sqlsearch.run(ctx.session, ctx.principal, _id(data, "sql"))
