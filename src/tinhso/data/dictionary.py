"""The shared data dictionary: versioned entity definitions (JSON Schema 2020-12) and their code lists."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tinhso.data.entities import SEED_ENTITIES
from tinhso.data.models import Entity
from tinhso.kit import audit, events
from tinhso.kit.db import utcnow
from tinhso.kit.errors import BadRequest, NotFound
from tinhso.kit.text import fold

FIELD_TYPES = {"string", "code", "date", "integer", "number", "boolean"}
CLASSIFICATIONS = ("public", "internal", "personal", "sensitive")
RULES = {"personal_id", "tax_code", "phone", "name", "date", "commune"}


def check_fields(fields: list[dict[str, Any]], key_field: str) -> None:
    names = [f.get("name") for f in fields]
    if len(set(names)) != len(names):
        raise BadRequest("entity_duplicate_field", "Field names must be unique")
    for field in fields:
        from tinhso.data.warehouse import check_ident

        check_ident(str(field.get("name")), "field")
        if field.get("type") not in FIELD_TYPES:
            raise BadRequest("entity_field_type", "Unknown field type {type}", type=field.get("type"))
        if field.get("classification") not in CLASSIFICATIONS:
            raise BadRequest(
                "entity_field_classification",
                "Unknown classification {value}",
                value=field.get("classification"),
            )
        if field.get("rule") and field["rule"] not in RULES:
            raise BadRequest("entity_field_rule", "Unknown validation rule {rule}", rule=field["rule"])
    if key_field not in names:
        raise BadRequest(
            "entity_key_field", "The key field {name} is not a field of the entity", name=key_field
        )


def build_schema(
    code: str, version: int, name_vi: str, name_en: str, fields: list[dict[str, Any]]
) -> dict[str, Any]:
    """JSON Schema 2020-12 of one entity version, with labels and classification as annotations."""
    props: dict[str, Any] = {}
    for field in fields:
        t = field["type"]
        prop: dict[str, Any] = {"title": field["label_vi"], "x-title-en": field["label_en"]}
        prop["x-classification"] = field["classification"]
        if t in ("string", "code"):
            prop["type"] = "string"
        elif t == "date":
            prop.update(type="string", format="date")
        else:
            prop["type"] = t
        if field.get("codelist"):
            prop["x-codelist"] = field["codelist"]
        if field.get("rule"):
            prop["x-rule"] = field["rule"]
        props[field["name"]] = {**prop, "type": [prop["type"], "null"]} if not field.get("required") else prop
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:tinhso:data:entity:{code}:{version}",
        "title": name_vi,
        "x-title-en": name_en,
        "type": "object",
        "properties": props,
        "required": [f["name"] for f in fields if f.get("required")],
        "additionalProperties": False,
    }
    Draft202012Validator.check_schema(schema)
    return schema


def _search_text(entity: Entity) -> str:
    labels = " ".join(f"{f['name']} {f['label_vi']} {f['label_en']}" for f in entity.fields)
    return fold(f"{entity.code} {entity.name_vi} {entity.name_en} {entity.description} {labels}")


def load_entities(session: Session) -> int:
    """Create version 1 of each seed entity that does not exist yet (later versions are the stewards')."""
    for spec in SEED_ENTITIES:
        if session.scalar(select(Entity.id).where(Entity.code == spec["code"]).limit(1)):
            continue
        entity = Entity(version=1, status="published", published_at=utcnow(), **spec)
        entity.json_schema = build_schema(entity.code, 1, entity.name_vi, entity.name_en, entity.fields)
        entity.search_text = _search_text(entity)
        session.add(entity)
    session.flush()
    return len(SEED_ENTITIES)


def latest(session: Session, code: str, version: int | None = None) -> Entity:
    stmt = select(Entity).where(Entity.code == code, Entity.status != "draft")
    stmt = stmt.where(Entity.version == version) if version else stmt.order_by(Entity.version.desc())
    entity = session.scalars(stmt.limit(1)).first()
    if entity is None:
        raise NotFound("entity_not_found", "Entity {code} not found in the data dictionary", code=code)
    return entity


def entities(session: Session, q: str | None = None) -> list[Entity]:
    """The newest published version of every entity, optionally filtered (accent-insensitive)."""
    newest = (
        select(Entity.code, func.max(Entity.version).label("v"))
        .where(Entity.status != "draft")
        .group_by(Entity.code)
    ).subquery()
    stmt = select(Entity).join(newest, (Entity.code == newest.c.code) & (Entity.version == newest.c.v))
    if q and fold(q).split():
        for word in fold(q).split():
            stmt = stmt.where(Entity.search_text.contains(word, autoescape=True))
    return list(session.scalars(stmt.order_by(Entity.code)))


def versions(session: Session, code: str) -> list[Entity]:
    return list(session.scalars(select(Entity).where(Entity.code == code).order_by(Entity.version)))


def publish_version(
    session: Session, code: str, changes: dict[str, Any], principal: Any, create: bool = False
) -> Entity:
    """Publish the next version of an entity (or its first, with `create`); the previous one is superseded."""
    previous = None
    if not create:
        previous = latest(session, code)
    elif session.scalar(select(Entity.id).where(Entity.code == code).limit(1)):
        from tinhso.kit.errors import Conflict

        raise Conflict("entity_exists", "Entity {code} already exists", code=code)
    base: dict[str, Any] = {}
    if previous is not None:
        base = {
            k: getattr(previous, k)
            for k in (
                "name_vi",
                "name_en",
                "description",
                "owner_agency",
                "key_field",
                "refresh_days",
                "fields",
            )
        }
    merged = {**base, **{k: v for k, v in changes.items() if v is not None}}
    for required in ("name_vi", "name_en", "key_field", "fields"):
        if not merged.get(required):
            raise BadRequest("entity_incomplete", "The entity definition lacks {field}", field=required)
    check_fields(merged["fields"], merged["key_field"])
    if (
        previous is not None
        and previous.owner_agency
        and not principal.is_platform_admin
        and principal.agency_code != previous.owner_agency
    ):
        from tinhso.kit.errors import Forbidden

        raise Forbidden(
            "entity_not_owner", "Only the owner agency may publish a new version of {code}", code=code
        )
    version = (previous.version + 1) if previous else 1
    entity = Entity(
        code=code, version=version, status="published", published_at=utcnow(), published_by=principal.id
    )
    for key, value in merged.items():
        setattr(entity, key, value)
    entity.owner_agency = merged.get("owner_agency") or principal.agency_code
    entity.json_schema = build_schema(code, version, entity.name_vi, entity.name_en, entity.fields)
    entity.search_text = _search_text(entity)
    if previous is not None:
        previous.status = "superseded"
    session.add(entity)
    session.flush()
    audit.record(session, "data.entity.publish", object_type="data_entity", object_id=f"{code}:{version}")
    events.publish(session, "data.entity.published", {"code": code, "version": version}, key=code)
    return entity
