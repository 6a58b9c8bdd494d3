"""Greenfield OpenAPI schemas (shared/greenfield beside the checkout, or GREENFIELD_DIR) as strict JSON Schemas for response tests."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema

# The contract lives in the steering repo's shared/ folder, which sits beside this checkout.
GREENFIELD_DIR = Path(
    os.environ.get("GREENFIELD_DIR", Path(__file__).resolve().parents[3] / "shared" / "greenfield")
)


def _components() -> dict:
    schemas: dict = {}
    files = sorted(GREENFIELD_DIR.glob("swagger.template*.json"))
    if not files:
        raise FileNotFoundError(f"no Greenfield OpenAPI files in {GREENFIELD_DIR}; set GREENFIELD_DIR")
    for path in files:
        schemas.update(json.loads(path.read_text()).get("components", {}).get("schemas", {}))
    return schemas


def _resolve(node, schemas: dict):
    """Inline $refs, merge allOf (OpenAPI's composition: properties add up), honour nullable."""
    if isinstance(node, list):
        return [_resolve(n, schemas) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _resolve(copy.deepcopy(schemas[node["$ref"].rsplit("/", 1)[1]]), schemas)
    node = {k: _resolve(v, schemas) for k, v in node.items() if k not in ("example", "x-enumNames")}
    if "allOf" in node:
        merged: dict = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged.setdefault("required", []).extend(value)
                elif key == "additionalProperties":
                    merged["additionalProperties"] = merged.get("additionalProperties", True) and value
                else:
                    merged.setdefault(key, value)
        node = merged
    if "oneOf" in node:
        # Greenfield's oneOf alternatives overlap (an open "any other data" object matches every
        # config), so strict oneOf can never pass; read it as anyOf, as code generators do.
        node["anyOf"] = node.pop("oneOf")
    if "anyOf" in node and "properties" not in node and node.get("additionalProperties") is False:
        # "additionalProperties: false" beside alternatives means "only what an alternative
        # declares"; in JSON Schema it would forbid everything, so the alternatives decide.
        node.pop("additionalProperties")
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    if node.get("format") in ("decimal", "int32", "double", "minutes", "seconds"):
        node.pop("format")
    return node


def validate(instance, schema_name: str) -> None:
    """Raise jsonschema.ValidationError unless ``instance`` matches Greenfield's ``schema_name``."""
    schemas = _components()
    schema = _resolve({"$ref": f"#/components/schemas/{schema_name}"}, schemas)
    jsonschema.validate(instance, schema)
