"""Stripe's form encoding: bracket keys (`line_items[0][price_data][unit_amount]=…`,
`metadata[bookingId]=…`, `expand[]=…`) into a tree of dicts, lists and strings.

Whether `a[0]` is an array index or a hash key depends on the parameter's schema (metadata
keys may well be digits), so the tree keeps it as the dict key "0" and `params.Params`
decides when it reads the parameter. Only `a[]` builds a list here.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TypeAlias
from urllib.parse import parse_qsl

from ais.payments.sandbox.errors import param_error

FormNode: TypeAlias = "str | list[FormNode] | dict[str, FormNode]"
FormTree: TypeAlias = dict[str, FormNode]

MAX_FIELDS = 1000
MAX_BODY_BYTES = 1_000_000
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def parse_form(encoded: bytes | str) -> FormTree:
    """Parse an `application/x-www-form-urlencoded` body or query string into a tree."""
    if len(encoded) > MAX_BODY_BYTES:
        raise param_error("The request body is too large.", None)
    try:
        text = encoded.decode("utf-8") if isinstance(encoded, bytes) else encoded
    except UnicodeDecodeError:
        raise param_error("The request body is not valid UTF-8.", None) from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise param_error(f"Too many parameters: at most {MAX_FIELDS} are accepted.", None) from None
    return build_tree(pairs)


def build_tree(pairs: list[tuple[str, str]]) -> FormTree:
    root: FormTree = {}
    for name, value in pairs:
        match = _KEY.match(name)
        if match is None:
            raise param_error(f"Invalid parameter name: {name}", name)
        segments = [match.group(1), *_SEGMENT.findall(match.group(2))]
        if "" in segments[:-1]:
            raise param_error(f"Invalid parameter name: {name} (`[]` may only end a name)", name)
        _insert(root, segments, value, name)
    return root


def _insert(root: FormTree, segments: list[str], value: str, name: str) -> None:
    if segments[-1] == "":  # `a[b][]=x` appends x to the list a[b]
        container = _walk(root, segments[:-2], name)
        existing = container.setdefault(segments[-2], [])
        if not isinstance(existing, list):
            raise _conflict(name)
        existing.append(value)
        return
    container = _walk(root, segments[:-1], name)
    if isinstance(container.get(segments[-1]), dict | list):
        raise _conflict(name)
    container[segments[-1]] = value  # a repeated scalar: the last one wins, as in Stripe


def _walk(root: FormTree, path: list[str], name: str) -> FormTree:
    node = root
    for segment in path:
        child = node.setdefault(segment, {})
        if not isinstance(child, dict):
            raise _conflict(name)
        node = child
    return node


def _conflict(name: str) -> Exception:
    return param_error(f"Invalid parameter {name}: it conflicts with another parameter of the same name.", name)


def fingerprint(tree: FormTree) -> str:
    """A digest of a request's parameters, equal exactly when the parameters are, in any order."""
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
