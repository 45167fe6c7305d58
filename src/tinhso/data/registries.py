"""Digital registries (GovStack Digital Registries building block): registries built from dictionary entities,
records validated against the entity, every change versioned (who, when, what), access scoped to agencies."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from tinhso.data import dictionary
from tinhso.data.codelists import codes_of
from tinhso.data.models import Entity, Record, RecordVersion, Registry
from tinhso.data.standardise import Standardiser
from tinhso.identity.models import Person
from tinhso.identity.principal import Principal
from tinhso.identity.repository import readable_agencies
from tinhso.kit import audit, events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from tinhso.kit.text import fold

EVERY_AGENCY = "*"


def get_registry(session: Session, code: str, version: str | None = None) -> Registry:
    registry = session.scalars(select(Registry).where(Registry.code == code)).first()
    if registry is None:
        raise NotFound("registry_not_found", "Registry {code} not found", code=code)
    if version is not None and version not in (str(registry.version), f"{registry.version}.0"):
        raise NotFound(
            "registry_version_not_found",
            "Registry {code} has no version {version}",
            code=code,
            version=version,
        )
    return registry


def can_read(session: Session, principal: Principal, registry: Registry) -> bool:
    if principal.agency_code is None:
        return principal.is_platform_admin
    allowed = readable_agencies(session, principal, f"data.registry.{registry.code}", utcnow())
    if allowed is None or registry.agency_code in allowed:
        return True
    shared = registry.shared_with or []
    return EVERY_AGENCY in shared or principal.agency_code in shared


def can_write(principal: Principal, registry: Registry) -> bool:
    if not principal.has_scope("data:write") and not principal.has_scope("api"):
        return False
    return principal.is_platform_admin or principal.agency_code == registry.agency_code


def _own_record(principal: Principal, registry: Registry, record: Record) -> bool:
    """A citizen may read the records about himself or herself (matched on the personal id)."""
    return bool(principal.personal_id) and record.data.get(registry.key_field) == principal.personal_id


def require_write(principal: Principal, registry: Registry) -> None:
    if not can_write(principal, registry):
        raise Forbidden(
            "registry_write_forbidden", "Only the owner agency may change registry {code}", code=registry.code
        )


def require_read(session: Session, principal: Principal, registry: Registry) -> None:
    if not can_read(session, principal, registry):
        raise Forbidden(
            "registry_read_forbidden", "Your agency may not read registry {code}", code=registry.code
        )


def entity_of(session: Session, registry: Registry) -> Entity:
    return dictionary.latest(session, registry.entity_code, registry.entity_version)


def standardiser(session: Session, entity: Entity) -> Standardiser:
    lists = {f["codelist"] for f in entity.fields if f.get("codelist")}
    lists.add("communes_2025")
    return Standardiser(entity.fields, {code: codes_of(session, code) for code in lists})


def create_registry(
    session: Session,
    principal: Principal,
    code: str,
    name_vi: str,
    name_en: str,
    entity_code: str,
    description: str = "",
    shared_with: list[str] | None = None,
    agency_code: str | None = None,
) -> Registry:
    if not principal.has_role("agency_admin"):
        raise Forbidden("registry_admin_only", "Only an agency administrator may create a registry")
    from tinhso.data.warehouse import check_ident

    check_ident(code, "registry")
    if session.scalar(select(Registry.id).where(Registry.code == code)):
        raise Conflict("registry_exists", "Registry {code} already exists", code=code)
    entity = dictionary.latest(session, entity_code)
    owner = agency_code if (agency_code and principal.is_platform_admin) else principal.agency_code
    if owner is None:
        raise BadRequest("registry_agency_required", "A registry belongs to an agency")
    registry = Registry(
        code=code,
        name_vi=name_vi,
        name_en=name_en,
        description=description,
        entity_code=entity.code,
        entity_version=entity.version,
        agency_code=owner,
        key_field=entity.key_field,
        shared_with=list(shared_with or []),
    )
    session.add(registry)
    session.flush()
    audit.record(session, "data.registry.create", object_type="data_registry", object_id=code)
    events.publish(session, "data.registry.created", {"registry": code, "entity": entity.code}, key=code)
    return registry


def modify_registry(
    session: Session, principal: Principal, registry: Registry, changes: dict[str, Any]
) -> Registry:
    """Change a registry's names, sharing, or move it to the entity's newest version (its schema)."""
    require_write(principal, registry)
    for key in ("name_vi", "name_en", "description", "shared_with"):
        if changes.get(key) is not None:
            setattr(registry, key, changes[key])
    if changes.get("upgrade_entity"):
        entity = dictionary.latest(session, registry.entity_code)
        if entity.version != registry.entity_version:
            registry.entity_version = entity.version
            registry.version += 1
    session.flush()
    audit.record(session, "data.registry.modify", object_type="data_registry", object_id=registry.code)
    return registry


def delete_registry(session: Session, principal: Principal, registry: Registry) -> None:
    require_write(principal, registry)
    if session.scalar(
        select(func.count())
        .select_from(Record)
        .where(Record.registry_id == registry.id, Record.deleted.is_(False))
    ):
        raise Conflict("registry_not_empty", "Registry {code} still has records", code=registry.code)
    audit.record(session, "data.registry.delete", object_type="data_registry", object_id=registry.code)
    session.delete(registry)
    session.flush()


def _validated(session: Session, registry: Registry, data: dict[str, Any]) -> dict[str, Any]:
    entity = entity_of(session, registry)
    known = {f["name"] for f in entity.fields}
    unknown = sorted(set(data) - known)
    if unknown:
        raise Unprocessable("record_unknown_field", "Unknown field(s): {fields}", fields=", ".join(unknown))
    outcome = standardiser(session, entity)(data)
    if not outcome.ok:
        first = next(i for i in outcome.issues if i.severity == "error")
        exc = Unprocessable("record_invalid", "Field {field}: {rule}", field=first.field, rule=first.rule)
        raise exc
    clean = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in outcome.row.items()}
    # and the entity version's JSON Schema (2020-12) itself, as any other consumer of the dictionary would
    validator = Draft202012Validator(entity.json_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    problem = next(iter(validator.iter_errors(clean)), None)
    if problem is not None:
        field = ".".join(str(p) for p in problem.absolute_path) or "record"
        raise Unprocessable("record_schema", "Field {field} does not match the entity schema", field=field)
    return clean


def _search_text(data: dict[str, Any]) -> str:
    return fold(" ".join(str(v) for v in data.values() if v is not None))


def _version(
    session: Session, record: Record, registry: Registry, op: str, changed: list[str], principal: Principal
) -> None:
    session.add(
        RecordVersion(
            record_id=record.id,
            registry_id=registry.id,
            version=record.version,
            operation=op,
            data=dict(record.data),
            changed_fields=changed,
            changed_by=principal.id,
            changed_by_agency=principal.agency_code,
            changed_at=utcnow(),
        )
    )


def create_record(session: Session, principal: Principal, registry: Registry, data: dict[str, Any]) -> Record:
    require_write(principal, registry)
    clean = _validated(session, registry, data)
    key = str(clean[registry.key_field])
    existing = session.scalars(
        select(Record).where(Record.registry_id == registry.id, Record.key == key)
    ).first()
    if existing is not None and not existing.deleted:
        raise Conflict(
            "record_exists", "A record with {field} = {key} already exists", field=registry.key_field, key=key
        )
    if existing is not None:  # re-creating a deleted record continues its history
        record = existing
        record.data, record.deleted, record.version = clean, False, record.version + 1
    else:
        record = Record(registry_id=registry.id, key=key, data=clean, version=1)
        session.add(record)
    record.search_text, record.updated_by = _search_text(clean), principal.id
    session.flush()
    _version(session, record, registry, "create", sorted(clean), principal)
    _changed(session, registry, record, "create")
    return record


def _changed(session: Session, registry: Registry, record: Record, op: str) -> None:
    audit.record(
        session,
        f"data.record.{op}",
        object_type=f"data_registry:{registry.code}",
        object_id=record.key,
        subject_id=subject_for(session, registry, record) if registry.entity_code == "citizen" else None,
    )
    events.publish(
        session,
        "data.record.changed",
        {"registry": registry.code, "key": record.key, "operation": op, "version": record.version},
        key=f"{registry.code}:{record.key}",
    )


def update_record(
    session: Session, principal: Principal, registry: Registry, record: Record, changes: dict[str, Any]
) -> Record:
    require_write(principal, registry)
    if registry.key_field in changes and str(changes[registry.key_field]) != record.key:
        raise BadRequest(
            "record_key_immutable", "The key field {field} cannot be changed", field=registry.key_field
        )
    merged = {**record.data, **changes}
    clean = _validated(session, registry, merged)
    changed = sorted(k for k in clean if clean.get(k) != record.data.get(k))
    if not changed:
        return record  # a retry of the same update changes nothing
    record.data, record.version = clean, record.version + 1
    record.search_text, record.updated_by = _search_text(clean), principal.id
    session.flush()
    _version(session, record, registry, "update", changed, principal)
    _changed(session, registry, record, "update")
    return record


def delete_record(session: Session, principal: Principal, registry: Registry, record: Record) -> None:
    require_write(principal, registry)
    record.deleted, record.version = True, record.version + 1
    session.flush()
    _version(session, record, registry, "delete", [], principal)
    _changed(session, registry, record, "delete")


def query_statement(registry: Registry, query: dict[str, Any] | None = None) -> Select[Any]:
    stmt = select(Record).where(Record.registry_id == registry.id, Record.deleted.is_(False))
    for field, value in (query or {}).items():
        if field == registry.key_field:
            stmt = stmt.where(Record.key == str(value))
        else:
            stmt = stmt.where(Record.data[field].as_string() == str(value))
    return stmt


def find(session: Session, registry: Registry, query: dict[str, Any]) -> list[Record]:
    if not query:
        raise BadRequest("registry_query_empty", "The query has no fields")
    entity = entity_of(session, registry)
    known = {f["name"] for f in entity.fields}
    if set(query) - known:
        raise BadRequest(
            "record_unknown_field", "Unknown field(s): {fields}", fields=", ".join(sorted(set(query) - known))
        )
    return list(session.scalars(query_statement(registry, query).limit(1001)))


def subject_for(session: Session, registry: Registry, record: Record) -> str | None:
    """Whose personal data this record is: the identity Person id if the personal id matches one, else the id."""
    personal_id = None
    for name in ("personal_id", "owner_personal_id", "head_personal_id", "holder_personal_id"):
        if record.data.get(name):
            personal_id = str(record.data[name])
            break
    if personal_id is None:
        return None
    person_id = session.scalar(select(Person.id).where(Person.personal_id == personal_id))
    return person_id or personal_id


def has_personal_fields(entity: Entity) -> bool:
    return any(f["classification"] in ("personal", "sensitive") for f in entity.fields)


def read_audited(
    session: Session, principal: Principal, registry: Registry, record: Record, purpose: str | None
) -> dict[str, Any]:
    """Return a record's data; reading personal data needs a purpose and is written to the audit log."""
    if not can_read(session, principal, registry) and not _own_record(principal, registry, record):
        raise Forbidden(
            "registry_read_forbidden", "Your agency may not read registry {code}", code=registry.code
        )
    entity = entity_of(session, registry)
    if has_personal_fields(entity):
        if not purpose or not purpose.strip():
            raise BadRequest("purpose_required", "Reading personal data requires a stated purpose")
        audit.record(
            session,
            "data.record.read",
            object_type=f"data_registry:{registry.code}",
            object_id=record.key,
            subject_id=subject_for(session, registry, record),
            purpose=purpose.strip(),
        )
    return dict(record.data)


def record_by_key(session: Session, registry: Registry, key_field: str, key: str) -> Record | None:
    entity = entity_of(session, registry)
    if key_field not in {f["name"] for f in entity.fields}:
        raise BadRequest("record_unknown_field", "Unknown field(s): {fields}", fields=key_field)
    stmt = query_statement(registry, {key_field: key})
    found: Record | None = session.scalars(stmt.limit(1)).first()
    return found


def history(session: Session, record: Record) -> list[RecordVersion]:
    return list(
        session.scalars(
            select(RecordVersion).where(RecordVersion.record_id == record.id).order_by(RecordVersion.version)
        )
    )


def personal_data_usage(session: Session, principal: Principal, limit: int = 500) -> list[dict[str, Any]]:
    """GovStack "my personal data usage": who read or changed the caller's personal data, when and why (newest
    first), from the audit entries whose subject is the caller's person id or personal identification number."""
    from tinhso.identity.models import Agency
    from tinhso.kit.audit import AuditEntry

    if principal.kind != "person":
        raise Forbidden("data_usage_person_only", "Only a person can see the use of his or her own data")
    subjects = [principal.id] + ([principal.personal_id] if principal.personal_id else [])
    rows = session.execute(
        select(AuditEntry, Agency.name)
        .outerjoin(Agency, Agency.code == AuditEntry.agency_code)
        .where(AuditEntry.subject_id.in_(subjects))
        .order_by(AuditEntry.seq.desc())
        .limit(limit)
    ).all()
    return [
        {"at": e.at, "actor_type": e.actor_type, "agency_code": e.agency_code, "agency_name": name,
         "action": e.action, "database": e.object_type, "record": e.object_id, "purpose": e.purpose}
        for e, name in rows
    ]  # fmt: skip
