"""Greenfield OpenAPI schemas (shared/greenfield beside the checkout, or GREENFIELD_DIR) as strict JSON Schemas for response tests.

Strict means: every field a closed object (``additionalProperties: false``) declares must be
present and of its declared type, nothing else may be there, ``nullable`` is honoured, decimal
strings must be decimal numbers and int32 numbers must be integers. Where the fragments are wrong
about what BTCPay sends (its C# models decide), ``ERRATA`` says so, field by field.
"""
from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path

import jsonschema

# The contract lives in the steering repo's shared/ folder, which sits beside this checkout.
GREENFIELD_DIR = Path(
    os.environ.get("GREENFIELD_DIR", Path(__file__).resolve().parents[3] / "shared" / "greenfield")
)
DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"

# (schema, property) -> the schema BTCPay 2.x actually serializes there.
ERRATA: dict[tuple[str, str], dict] = {
    # "type: object" with "items": StoreData.PaymentMethodCriteria is a List<> and BTCPay always
    # sends a list, empty when there are no criteria.
    ("StoreBaseData", "paymentMethodCriteria"): {
        "type": "array", "items": {"$ref": "#/components/schemas/PaymentMethodCriteriaData"},
    },
    # BTCPayServerEnvironment.OnionUrl is null on a server without Tor.
    ("ApplicationServerInfoData", "onion"): {"type": "string", "nullable": True},
    # StoreRateConfiguration.Spread is a plain decimal (no NumericStringJsonConverter): a JSON
    # number, which the official PHP client reads with PreciseNumber::parseFloat.
    ("StoreRateConfiguration", "spread"): {"type": "number"},
    # Null when custom scripts are used (GetStoreRateConfigurationCore).
    ("StoreRateConfiguration", "preferredSource"): {"type": "string", "nullable": True},
    # StoreRateResult.Rate is decimal? and null for a pair that has errors.
    ("StoreRateResult", "rate"): {"type": "string", "format": "decimal", "nullable": True},
}


@cache
def _components() -> dict:
    schemas: dict = {}
    files = sorted(GREENFIELD_DIR.glob("swagger.template*.json"))
    if not files:
        raise FileNotFoundError(f"no Greenfield OpenAPI files in {GREENFIELD_DIR}; set GREENFIELD_DIR")
    for path in files:
        schemas.update(json.loads(path.read_text()).get("components", {}).get("schemas", {}))
    for (name, prop), fixed in ERRATA.items():
        schemas[name] = _with_property(schemas[name], prop, fixed)
    return schemas


def _with_property(schema: dict, prop: str, fixed: dict) -> dict:
    schema = copy.deepcopy(schema)
    holders = [schema, *schema.get("allOf", [])]
    for holder in holders:
        if prop in holder.get("properties", {}):
            holder["properties"][prop] = fixed
            return schema
    raise KeyError(f"ERRATA: {prop} is not a property of the schema it names")


def _resolve(node, schemas: dict, complete: bool):
    """Inline $refs, merge allOf (OpenAPI's composition: properties add up), honour nullable."""
    if isinstance(node, list):
        return [_resolve(n, schemas, complete) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _resolve(copy.deepcopy(schemas[node["$ref"].rsplit("/", 1)[1]]), schemas, complete)
    node = {k: _resolve(v, schemas, complete) for k, v in node.items() if k not in ("example", "x-enumNames")}
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
                elif key == "type" and "type" in merged and merged["type"] != value:
                    # "type: string, nullable" beside an allOf'd enum: the nullable outer type wins
                    continue
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
    fmt = node.pop("format", None)
    if fmt == "decimal" and node.get("type") == "string":
        node["pattern"] = DECIMAL
    elif fmt in ("int32", "int64", "integer") and node.get("type") == "number":
        node["type"] = "integer"
    if complete and node.get("additionalProperties") is False and node.get("properties"):
        # a closed response object: every field it declares is there
        node["required"] = sorted(set(node.get("required", [])) | set(node["properties"]))
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [*([node["type"]] if isinstance(node["type"], str) else node["type"]), "null"]
        if "enum" in node:
            node["enum"] = [*node["enum"], None]
    return node


def schema(schema_name: str, *, complete: bool = True) -> dict:
    """Greenfield's ``schema_name`` as a JSON Schema (``complete``: closed objects list every field)."""
    return _resolve({"$ref": f"#/components/schemas/{schema_name}"}, _components(), complete)


def validate(instance, schema_name: str, *, complete: bool = True, optional: frozenset[str] = frozenset()) -> None:
    """Raise jsonschema.ValidationError unless ``instance`` matches Greenfield's ``schema_name``.

    ``complete=False`` for a body that leaves fields to another layer (an outbox payload gets its
    webhook delivery fields from the sender). ``optional``: top-level fields (of the object, or of
    each item of a list) that may be absent, like an invoice's ``paymentMethods`` when they were
    not asked for.
    """
    resolved = schema(schema_name, complete=complete)
    top = resolved.get("items", resolved)
    if "required" in top:
        top["required"] = [name for name in top["required"] if name not in optional]
    jsonschema.validate(instance, resolved)


def property_names(schema_name: str) -> list[str]:
    """The fields Greenfield declares for ``schema_name`` (its allOf parts included)."""
    return sorted(schema(schema_name, complete=False).get("properties", {}))
