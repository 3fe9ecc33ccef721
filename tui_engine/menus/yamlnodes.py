"""YAML to plain data, remembering where every value came from.

PyYAML's ``compose`` gives the node graph with start marks; building the Python values from
the nodes ourselves (instead of ``safe_load``) keeps a map from each JSON-style path to its
line and column, so schema and semantic errors can point at the exact key. It also lets us
report duplicate keys, which ``safe_load`` silently resolves to the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from tui_engine.menus.errors import Issue

JsonPath = tuple[str | int, ...]

MAX_NODES = 100_000  #: more values than any dialplan needs: YAML aliases expanding ("billion laughs")


class _TooLarge(Exception):
    pass


@dataclass(slots=True)
class Located:
    """Plain data (dicts, lists, scalars) plus the 1-based ``(line, column)`` of each path."""

    file: Path
    data: Any = None
    values: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)
    keys: dict[JsonPath, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: JsonPath, *, key: bool = False) -> tuple[int, int]:
        """The position of ``path`` (its key when ``key``), else of its nearest located parent."""
        table = self.keys if key else self.values
        if path in table:
            return table[path]
        for cut in range(len(path) - 1, -1, -1):
            if path[:cut] in self.values:
                return self.values[path[:cut]]
        return (1, 1)

    def issue(self, path: JsonPath, reason: str, *, key: bool = False) -> Issue:
        line, column = self.where(path, key=key)
        return Issue(file=self.file, line=line, column=column, reason=reason)


def _pos(node: Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, out: Located, issues: list[Issue]) -> None:
        self._out = out
        self._issues = issues
        self._scalars = SafeConstructor()
        self._count = 0

    def build(self, node: Node, path: JsonPath) -> Any:
        self._count += 1
        if self._count > MAX_NODES:
            raise _TooLarge
        self._out.values[path] = _pos(node)
        if isinstance(node, MappingNode):
            return self._mapping(node, path)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self._scalars.construct_object(node)

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                self._issues.append(self._at(key_node, "a key must be a plain scalar"))
                continue
            # Keys are strings in the dialplan model: an unquoted `1:` choice is the key "1".
            key = str(self._scalars.construct_object(key_node))
            if key in result:
                self._issues.append(self._at(key_node, f"duplicate key {key!r}"))
                continue
            self._out.keys[(*path, key)] = _pos(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _at(self, node: Node, reason: str) -> Issue:
        line, column = _pos(node)
        return Issue(file=self._out.file, line=line, column=column, reason=reason)


def load_located(text: str, file: Path, issues: list[Issue]) -> Located:
    """Parse ``text``; syntax errors and duplicate keys are appended to ``issues``."""
    out = Located(file=file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = f"YAML syntax: {exc.problem or exc.context or exc}"
        issues.append(Issue(file=file, line=line, column=column, reason=reason))
        return out
    except yaml.YAMLError as exc:
        issues.append(Issue(file=file, line=1, column=1, reason=f"YAML: {exc}"))
        return out
    if root is not None:
        try:
            out.data = _Builder(out, issues).build(root, ())
        except _TooLarge:
            reason = f"more than {MAX_NODES} values (aliases expanding?): not a dialplan"
            issues.append(Issue(file=file, line=1, column=1, reason=reason))
    return out
