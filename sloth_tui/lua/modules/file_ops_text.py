"""The text edits of file_ops, as pure functions of the old text: lineinfile,
blockinfile, replace (upstream's semantics, Go regexps read as Python's) and
template (upstream's `{{.key}}` / `{{.a.b}}` only), plus the unified diff a call
records."""

from __future__ import annotations

import difflib
import importlib
import json
import re
from typing import Any

from sloth_tui.lua.modules.base import HostError

PATTERN_MAX = 4096  # characters in a regexp or pattern option
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD = re.compile(r"\s*\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*")
_ONLY = "only {{.key}} and {{.a.b}} are"
# The parsed form of a pattern, to vet it (private modules, stable since 3.11, no stubs).
sre_parser: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")
_GO_GROUP = re.compile(r"\$(?:(\$)|\{(\w+)\}|(\w+))")


def diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), path, path
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _split(text: str) -> tuple[list[str], bool]:
    """Lines, and whether the text ended with a newline (kept on rewrite; upstream
    drops it, which leaves a blank line on the next append)."""
    if not text:
        return [], False
    ends = text.endswith("\n")
    return (text[:-1] if ends else text).split("\n"), ends


def _join(lines: list[str], newline: bool) -> str:
    return "\n".join(lines) + ("\n" if newline and lines else "")


def _regex(pattern: Any, what: str) -> re.Pattern[str] | None:
    if pattern is None or pattern == "":
        return None
    text = str(pattern)
    if len(text) > PATTERN_MAX:
        raise HostError(f"{what} is longer than {PATTERN_MAX} characters")
    try:
        compiled = re.compile(text)
        _linear_enough(sre_parser.parse(text), what, False)
    except re.error as exc:
        raise HostError(f"invalid {what}: {exc}") from None
    return compiled


def _linear_enough(parsed: Any, what: str, under_star: bool) -> None:
    """Refuse what Go's RE2 (upstream's engine) does not have and what makes Python's
    backtracking engine run for minutes in C, past the run's deadline: backreferences,
    lookaround, and an unbounded repeat inside another one (`(a+)+`)."""
    for op, arg in parsed:
        name = str(op)
        if name in ("GROUPREF", "GROUPREF_EXISTS", "ASSERT", "ASSERT_NOT"):
            raise HostError(f"{what}: backreferences and lookaround are not supported (RE2)")
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            _, high, body = arg
            unbounded = high == sre_constants.MAXREPEAT or high > 1000
            if unbounded and under_star:
                raise HostError(
                    f"{what}: a repeat inside a repeat (like (a+)+) can take exponential time"
                )
            _linear_enough(body, what, under_star or unbounded)
        elif name in ("SUBPATTERN", "ATOMIC_GROUP"):
            _linear_enough(arg[-1], what, under_star)
        elif name == "BRANCH":
            for branch in arg[1]:
                _linear_enough(branch, what, under_star)


def lineinfile(text: str, line: str, state: str, pattern: Any) -> str:
    regex = _regex(pattern, "regexp")
    lines, newline = _split(text)
    if state == "absent":
        kept = [x for x in lines if x != line and not (regex and regex.search(x))]
        return _join(kept, newline)
    found, out = False, []
    for x in lines:
        if regex is not None and regex.search(x):
            out.append(line)
            found = True
        else:
            found = found or x == line
            out.append(x)
    if not found:
        out.append(line)
    return _join(out, newline)


def blockinfile(text: str, block: str, state: str, begin: str, end: str) -> str:
    lines, newline = _split(text)
    # Upstream takes the last line holding each marker.
    b = max((i for i, x in enumerate(lines) if begin in x), default=-1)
    e = max((i for i, x in enumerate(lines) if end in x), default=-1)
    if state == "absent":
        if b >= 0 and e >= 0:
            lines = lines[:b] + lines[e + 1 :]
        return _join(lines, newline)
    new_block = [begin, *block.split("\n"), end]
    found = b >= 0 and e >= 0
    return _join(lines[:b] + new_block + lines[e + 1 :] if found else lines + new_block, newline)


def replace(text: str, pattern: str, replacement: str) -> str:
    regex = _regex(pattern, "pattern")
    if regex is None:
        raise HostError("pattern parameter is required")

    def expand(m: re.Match[str]) -> str:
        # Go's ReplaceAllString template: $1, ${1}, $name, ${name}, $$.
        def group(g: re.Match[str]) -> str:
            if g.group(1):
                return "$"
            key = g.group(2) or g.group(3)
            try:
                value = m.group(int(key) if key.isdigit() else key)
            except IndexError:  # no such group: Go expands it to nothing
                return ""
            return value or ""

        return _GO_GROUP.sub(group, replacement)

    return regex.sub(expand, text)


def _value_text(value: Any) -> str:
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def template(source: str, variables: Any) -> str:
    """Upstream renders Go text/template; here only field lookups: anything richer
    (calls, pipelines, range, if, comments, trim markers) is refused, not half-run."""
    data = variables if isinstance(variables, dict) else {}

    def field(m: re.Match[str]) -> str:
        found = _FIELD.fullmatch(m.group(1))
        if found is None:
            action = m.group(0) if len(m.group(0)) <= 60 else m.group(0)[:57] + "..."
            raise HostError(f"template action {action} is not supported: {_ONLY}")
        value: Any = data
        for key in found.group(1).split("."):
            value = value.get(key) if isinstance(value, dict) else None
        return _value_text(value)

    rendered = _ACTION.sub(field, source)
    if "{{" in _ACTION.sub("", source):
        raise HostError("template has an unclosed '{{'")
    return rendered
