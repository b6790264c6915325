"""YAML read the way every file of the monitor reads it: safe types, no key given twice, bounded.

PyYAML's ``safe_load`` keeps the last of two equal keys without a word (a rule's second
``threshold:`` silently replaced the first), expands aliases into as many values as they name (nine
lines of ``&a [*b, *b, ...]`` make 387 million list items: ``monitor rules check`` never
returned) and recurses once per nesting level (a RecursionError). :func:`load_yaml` refuses all
three with a :class:`~monitor.errors.ConfigError` that names the file's role and the line.

>>> load_yaml("threshold: 0.2\\nseverity: page\\n", "alert rules")
{'threshold': 0.2, 'severity': 'page'}
>>> load_yaml("threshold: 0.2\\nthreshold: 0.3\\n", "alert rules")
Traceback (most recent call last):
...
monitor.errors.ConfigError: alert rules: not valid YAML: line 2: 'threshold' is given twice (first on line 1)
>>> load_yaml("base: &b {a: 1}\\nrule: {<<: *b, a: 2}\\n", "alert rules")  # a merge key's values may be overridden
{'base': {'a': 1}, 'rule': {'a': 2}}
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from monitor.errors import ConfigError

__all__ = ["MAX_YAML_DEPTH", "MAX_YAML_VALUES", "load_yaml"]

# Far above any rules, experiments, rubric or settings file; far below what stalls a worker's start.
MAX_YAML_VALUES = 1_000_000
MAX_YAML_DEPTH = 100
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Problem(Exception):
    """What is wrong with the document, with the line (1-based) it is on."""

    def __init__(self, line: int, text: str) -> None:
        super().__init__(f"line {line}: {text}")


class _StrictLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key given twice in one mapping (a merged ``<<`` key's keys
    may still be overridden, as YAML says)."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_line.get(key)
            except TypeError:  # an unhashable key: the constructor says so below
                continue
            line = key_node.start_mark.line + 1
            if earlier is not None:
                raise _Problem(line, f"{key!r:.60} is given twice (first on line {earlier})")
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node) -> int:
    """Values the document holds once every alias is expanded, and its nesting checked, without
    expanding anything: an aliased node is measured once (iteratively, so depth costs no recursion)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, int, bool]] = [(root, 1, False)]
    while stack:
        node, depth, children_done = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_YAML_DEPTH:
            raise _Problem(node.start_mark.line + 1, f"nested deeper than {MAX_YAML_DEPTH} levels")
        children = _children(node)
        if children_done or not children:
            size = 1 + sum(sizes[id(child)] for child in children)
            if size > MAX_YAML_VALUES:
                raise _Problem(
                    node.start_mark.line + 1,
                    f"expands to more than {MAX_YAML_VALUES:,} values through aliases (*name)",
                )
            sizes[id(node)] = size
            continue
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def load_yaml(text: str, role: str) -> Any:
    """The one YAML document in ``text`` (None when empty), or a ConfigError
    ``"<role>: not valid YAML: ..."`` for bad YAML, a key given twice, more than
    :data:`MAX_YAML_VALUES` values after aliases or more than :data:`MAX_YAML_DEPTH` levels."""
    loader = _StrictLoader(text)
    try:
        # composing recurses once per level of the text: bounded below
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node)
        return loader.construct_document(node)
    except (_Problem, yaml.YAMLError) as exc:
        raise ConfigError(f"{role}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{role}: not valid YAML: nested deeper than {MAX_YAML_DEPTH} levels"
        ) from None
    finally:
        loader.dispose()
