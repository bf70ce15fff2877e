"""Canonical order model and the translation of channel payloads into it (pure: no I/O)."""

from mapping.engine import (
    MappingError,
    MappingSpec,
    SpecError,
    apply_spec,
    compile_spec,
    load_spec,
    map_order,
    order_schema,
    resolve_skus,
    validate_order,
)
from mapping.transforms import TRANSFORMS, TransformError

__all__ = [
    "TRANSFORMS",
    "MappingError",
    "MappingSpec",
    "SpecError",
    "TransformError",
    "apply_spec",
    "compile_spec",
    "load_spec",
    "map_order",
    "order_schema",
    "resolve_skus",
    "validate_order",
]
