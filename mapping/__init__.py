"""Canonical order model and the translation of channel payloads into it (pure: no I/O)."""

from omniroute.mapping.engine import (
    MappingError,
    MappingSpec,
    SpecError,
    alias_to_map,
    apply_spec,
    compile_spec,
    load_spec,
    map_order,
    order_schema,
    resolve_skus,
    sku_keys,
    validate_order,
)
from omniroute.mapping.transforms import TRANSFORMS, TransformError

__all__ = [
    "TRANSFORMS",
    "MappingError",
    "MappingSpec",
    "SpecError",
    "TransformError",
    "alias_to_map",
    "apply_spec",
    "compile_spec",
    "load_spec",
    "map_order",
    "order_schema",
    "resolve_skus",
    "sku_keys",
    "validate_order",
]

if __name__ != "omniroute.mapping":  # the folder is installed as a subpackage of omniroute
    raise ImportError(f"import omniroute.mapping, not {__name__}")
