"""YAML as people write it in specs: PyYAML's safe loader, reading ``1e-4`` as a number
and refusing duplicate keys.

PyYAML follows YAML 1.1, where a float needs a dot (``1.0e-4``), so ``lr: {min: 1e-4}``
loaded as the string ``"1e-4"`` and a sweep spec was refused with "must be a number".
YAML 1.2, and OmegaConf/Hydra, read it as a float; so does this loader.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["YAMLError", "safe_load"]

YAMLError = yaml.YAMLError


class _Loader(yaml.SafeLoader):
    """SafeLoader plus YAML 1.2's exponent floats without a dot (``1e-4``, ``-2E+3``), and
    refusing a key given twice in one mapping (YAML requires unique keys; PyYAML keeps the
    last silently, so a spec's second ``lr:`` would replace the first unseen)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<": merged keys may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML's own error follows
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


#: values a document may expand to (aliases counted each time they are used)
MAX_VALUES = 100_000
#: levels of nesting a document may have
MAX_DEPTH = 100


def safe_load(text: str | bytes) -> Any:
    """``yaml.safe_load`` with exponent floats read as floats, refusing a document that
    expands to more than ``MAX_VALUES`` values (an alias bomb: a few hundred bytes that
    every reader of the result would walk as millions of values) or nests deeper than
    ``MAX_DEPTH`` levels (an alias can make a document contain itself)."""
    from .validation import extent

    doc = yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    size = extent(doc, MAX_VALUES, MAX_DEPTH)
    if size.values > MAX_VALUES:
        raise yaml.YAMLError(
            f"the document expands to more than {MAX_VALUES:,} values (through aliases "
            "used many times?): write it out plainly"
        )
    if size.deep:
        raise yaml.YAMLError(
            f"the document nests more than {MAX_DEPTH} levels deep (or contains itself "
            "through an alias)"
        )
    return doc
