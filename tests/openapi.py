"""Test helper: the OpenAPI schema of some URL patterns, failing on any drf-spectacular warning."""
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema


def schema_without_warnings(urlpatterns) -> dict:
    """Generate, assert drf-spectacular reported no warning or error, validate, and return it."""
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(patterns=urlpatterns).get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, GENERATOR_STATS._warn_cache
    assert not GENERATOR_STATS._error_cache, GENERATOR_STATS._error_cache
    validate_schema(schema)
    return schema


def operation_ids(schema: dict) -> dict[tuple[str, str], str]:
    """(path, method) -> operationId, to compare with Greenfield's."""
    return {(p, method): op["operationId"] for p, ops in schema["paths"].items() for method, op in ops.items()}
