"""Round-trip editing of the config file's YAML document, keeping the user's comments and layout.

Only :class:`~.config_manager.ConfigManager` uses this module. ruamel.yaml keeps comments, key order,
quoting and flow/block style, but it hangs a comment that sits *between* two list entries on the
deepest last value of the entry before it. Deleting that entry would take the next entry's comment
with it. :func:`attach_comments` therefore first moves every such comment block to the entry (or
to the end of the list) it precedes; after that, removing an entry removes exactly its own lines.

The indentation of a hand-written file is detected (:func:`detect_indent`) so that a save does
not re-indent it.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from .validate import plain

#: Key order of a device entry written by the manager (unknown keys follow, sorted).
ENTRY_ORDER = ("id", "driver", "enabled", "auto_start", "alias", "icon", "description", "location",
               "poll_interval", "transport", "framing", "options", "link")
_KEY_LINE = re.compile(r"^( *)[^\s#\-][^#]*?:\s*(#.*)?$")


def detect_indent(text: str) -> tuple[int, int, int]:
    """``(mapping, sequence, offset)`` as used by ``YAML.indent`` for the block layout of ``text``;
    ``(2, 4, 2)`` (``devices:`` then ``  - id: ...``) when the file has no nested block."""
    mapping = sequence = offset = None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    for line, nxt in itertools.pairwise(lines):
        match = _KEY_LINE.match(line)
        if match is None:
            continue
        base = len(match.group(1))
        indent = len(nxt) - len(nxt.lstrip(" "))
        body = nxt.lstrip(" ")
        if body.startswith("- ") and indent >= base and offset is None:
            offset = indent - base
            sequence = offset + 2 + (len(body[2:]) - len(body[2:].lstrip(" ")))
        elif not body.startswith("-") and indent > base and mapping is None:
            mapping = indent - base
        if mapping is not None and offset is not None:
            break
    return mapping or 2, sequence if sequence is not None else 4, offset if offset is not None else 2


def make_yaml(text: str = "") -> YAML:
    """A round-trip YAML instance set up to write ``text``'s layout back unchanged."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long flow mapping
    mapping, sequence, offset = detect_indent(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    first = next((ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")), "")
    yaml.explicit_start = first.startswith("---")
    return yaml


def dump(yaml: YAML, document: Any) -> str:
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


# --- comments ------------------------------------------------------------------------------------
def _tokens(text: str) -> list[CommentToken]:
    """One comment token per line of ``text`` (blank lines become ``"\\n"`` tokens)."""
    out = []
    for line in text.splitlines(keepends=True):
        body = line.lstrip(" ")
        if not body.strip():
            out.append(CommentToken("\n", CommentMark(0)))
        else:
            out.append(CommentToken(body if body.endswith("\n") else body + "\n", CommentMark(len(line) - len(body))))
    return out


def _per_line(tokens: list[CommentToken]) -> list[CommentToken]:
    """``tokens`` split so that each holds one line (ruamel merges a comment and the blank lines after it)."""
    lines = []
    for token in tokens:
        first, _, rest = token.value.partition("\n")
        lines.append(" " * (token.column or 0) + first + "\n" if first.strip() else "\n")
        lines.append(rest)
    return _tokens("".join(lines))


def _deepest_last(node: Any) -> tuple[Any, Any] | None:
    """The (container, key) of the last scalar written for ``node`` in block layout."""
    while isinstance(node, CommentedMap | CommentedSeq) and len(node):
        key = next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1
        value = node[key]
        if isinstance(value, CommentedMap | CommentedSeq) and len(value) and not value.fa.flow_style():
            node = value
            continue
        return node, key
    return None


def _take_tail(node: Any) -> list[CommentToken]:
    """Cut the whole-line comments (and blank lines) that follow ``node``'s last line off the
    comment ruamel attached to its deepest last value; return them as tokens."""
    found = _deepest_last(node)
    if found is None:
        return []
    container, key = found
    slot = container.ca.items.get(key)
    position = 2 if isinstance(container, CommentedMap) else 0
    if not slot or slot[position] is None:
        return []
    token = slot[position]
    head, newline, tail = token.value.partition("\n")
    if not tail:
        return []
    token.value = head + newline
    return _tokens(tail)


def _pre(seq: CommentedSeq, index: int) -> list[CommentToken]:
    slot = seq.ca.items.get(index)
    return list(slot[1] or []) if slot else []


def _set_pre(seq: CommentedSeq, index: int, tokens: list[CommentToken]) -> None:
    slot = seq.ca.items.setdefault(index, [None, None, None, None])
    slot[1] = tokens or None


def attach_comments(seq: CommentedSeq) -> None:
    """Move each comment block between list entries onto the entry that follows it, and the one
    after the last entry onto the end of the list (see the module docstring)."""
    for index in range(len(seq)):
        tail = _take_tail(seq[index])
        if not tail:
            continue
        if index + 1 < len(seq):
            _set_pre(seq, index + 1, tail + _pre(seq, index + 1))
        else:
            if seq.ca.comment is None:  # ruamel only writes ``end`` comments of a list that has this slot
                seq.ca.comment = [None, None]
            seq.ca.end = tail + list(seq.ca.end or [])


def _first_comment(parent: CommentedMap, key: str) -> tuple[list[CommentToken], list[Any] | None]:
    """The comment lines between ``key:`` and the first entry of its list (where ruamel emits them)."""
    slot = parent.ca.items.get(key)
    if slot is not None and len(slot) < 4:
        slot.extend([None] * (4 - len(slot)))
    return (list(slot[3] or []) if slot else []), slot


def remove_entry(parent: CommentedMap, key: str, index: int) -> None:
    """Delete entry ``index`` of the list ``parent[key]`` with its own comment lines only.

    The comment block right above the first entry counts as that entry's when no blank line
    separates them; comment lines above a blank line there describe the whole list and stay."""
    seq = parent[key]
    attach_comments(seq)
    if index == 0:
        first, slot = _first_comment(parent, key)
        first = _per_line(first)
        cut = max((i + 1 for i, t in enumerate(first) if t.value == "\n"), default=0)
        following = _pre(seq, 1) if len(seq) > 1 else []
        while following and following[0].value == "\n":  # the blank line that separated it from entry 0
            following.pop(0)
        if slot is None:
            slot = parent.ca.items.setdefault(key, [None, None, None, None])
        slot[3] = (first[:cut] + following) or None
        if len(seq) > 1:
            _set_pre(seq, 1, [])
        if seq.ca.comment:
            seq.ca.comment[1] = None
    del seq[index]


def append_entry(parent: CommentedMap, key: str, entry: CommentedMap) -> None:
    """Append ``entry`` to the list ``parent[key]`` (turned into a block list), separated by a blank
    line when the existing entries are."""
    seq = parent.get(key)
    if not isinstance(seq, CommentedSeq):
        seq = CommentedSeq(list(seq or []))
        parent[key] = seq
    seq.fa.set_block_style()
    attach_comments(seq)
    spaced = any(_pre(seq, i)[:1] and _pre(seq, i)[0].value == "\n" for i in range(1, len(seq)))
    seq.append(entry)
    if spaced:
        _set_pre(seq, len(seq) - 1, [CommentToken("\n", CommentMark(0))])


# --- values ------------------------------------------------------------------------------------
def _node(value: Any, *, flow: bool) -> Any:
    """A YAML node for a plain value: mappings become CommentedMaps (flow style when ``flow``)."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[k] = _node(v, flow=True)
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list | tuple):
        seq = CommentedSeq([_node(v, flow=True) for v in value])
        seq.fa.set_flow_style()
        return seq
    return value


def new_entry(conf: Mapping[str, Any], *, flow: bool = True) -> CommentedMap:
    """A device entry in :data:`ENTRY_ORDER`; sections (``transport``...) on one line each when ``flow``."""
    entry = CommentedMap()
    order = {k: i for i, k in enumerate(ENTRY_ORDER)}
    for key in sorted(conf, key=lambda k: (order.get(k, len(order)), k)):
        entry[key] = _node(conf[key], flow=flow)
    return entry


def uses_flow_sections(seq: Any) -> bool:
    """Whether the file writes device sections as one-line flow mappings (the first one found decides)."""
    for item in seq or []:
        if isinstance(item, Mapping):
            for value in item.values():
                if isinstance(value, CommentedMap):
                    return bool(value.fa.flow_style())
    return True


def update_mapping(node: CommentedMap, new: Mapping[str, Any], *, flow: bool = True) -> None:
    """Make ``node`` equal to ``new`` in place: unchanged values keep their node (and comments),
    nested mappings are updated recursively, removed keys are deleted, and a new key goes after the
    nearest key that precedes it in :data:`ENTRY_ORDER` (new sections use flow style when ``flow``)."""
    for key in [k for k in node if k not in new]:
        del node[key]
    order = {k: i for i, k in enumerate(ENTRY_ORDER)}
    for key, value in new.items():
        old = node.get(key)
        if key in node:
            if plain(old) == plain(value) and type(plain(old)) is type(plain(value)):
                continue
            if isinstance(old, CommentedMap) and isinstance(value, Mapping):
                update_mapping(old, value, flow=flow)
                continue
            node[key] = _node(value, flow=bool(old.fa.flow_style()) if isinstance(old, CommentedMap) else flow)
            continue
        rank = order.get(key, len(order))
        before = [i for i, k in enumerate(node) if order.get(k, len(order)) <= rank]
        node.insert(before[-1] + 1 if before else 0, key, _node(value, flow=flow))


__all__ = ["ENTRY_ORDER", "append_entry", "attach_comments", "detect_indent", "dump", "make_yaml", "new_entry",
           "remove_entry", "update_mapping", "uses_flow_sections"]
