"""Keeping secret values out of a run's record.

The secret host module (modules/secret.py) notes every value it hands a run in
`ctx.scratch[SCRATCH]` ({value: name}). When the run ends, the worker passes the
Execution through `redact_execution`: every string in its logs, calls, error and
result (dict keys too) has each such value replaced by "[secret:NAME]". The events
a run dispatches are passed through `redact_value` before they leave the run
(modules/event.py), so no stored event holds a value either.

What is replaced, per value: the text itself, its JSON-escaped forms, once and twice
(Python's and encode.lua's: a table logged through json.encode, a body kept as JSON
text, a JSON answer echoing a JSON body), its Python repr (an error message quoting
it), and its percent-encoded forms (a value put in a URL). A record cut at a cap keeps
text up to a marker ("…[truncated]", "…[N more characters]"): a value cut there
leaves a prefix, so a prefix of a value (MIN_VALUE characters or more) ending at
such a marker is replaced too.

Values shorter than MIN_VALUE are never stored (secret_vault refuses them): every
value a run can read is one this can redact without shredding the record. A value
the hook transforms (upper-cased, cut, base64-encoded) is not recognised: that is
the hook's doing, and the docs say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from sloth_tui.model.records import Execution, LogLine

SCRATCH = "secret"  # ctx.scratch key: {value: secret name} handed out in this run
MIN_VALUE = 8  # kept equal to secret_vault.MIN_VALUE (a test holds them together)
_CLIP_MARK = "…["  # what both clip() functions put where they cut


def label(name: str) -> str:
    return f"[secret:{name}]"


def _escapes(text: str) -> set[str]:
    """`text` as JSON string contents: Python's forms and encode.lua's."""
    py = json.dumps(text, ensure_ascii=False)[1:-1]
    # encode.lua also escapes DEL (Lua's %c), Python does not
    return {py, py.replace("\x7f", "\\u007f"), json.dumps(text)[1:-1]}


def _reprs(text: str) -> set[str]:
    """`text` inside a Python repr (an exception message quoting it), whichever quote
    the repr of the larger string picked."""
    out = set()
    for show in (repr, ascii):
        for quote_char in ("", "'", '"'):
            inner = show(text + quote_char)[1:-1]
            if quote_char:
                escaped = "\\" + quote_char
                inner = inner[: -len(escaped)] if inner.endswith(escaped) else inner[:-1]
            out.add(inner)
    return out


def _forms(value: str) -> set[str]:
    """What `value` looks like in a record: itself, JSON-escaped once and twice (a JSON
    body echoed inside a JSON answer, then logged), in a Python repr (an exception's
    message), and percent-encoded (in a URL)."""
    once = _escapes(value)
    forms = {value, *once, *_reprs(value), quote(value, safe=""), quote(value), quote_plus(value)}
    for text in once:
        forms |= _escapes(text)
    return {f for f in forms if len(f) >= MIN_VALUE}


class Redactor:
    """Replaces the values of one run (value -> secret name) in any JSON-shaped data."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self._labels: dict[str, str] = {}
        for value, name in secrets.items():
            if len(value) < MIN_VALUE:
                continue
            for form in _forms(value):
                self._labels.setdefault(form, label(name))
        # Longest first, so a value containing another is replaced whole. Plain
        # str.find, not one regex: compiling an alternation of 64 KiB values takes seconds.
        self._forms = sorted(self._labels, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def text(self, text: str) -> str:
        spans: list[tuple[int, int, str]] = []
        for form in self._forms:
            i = text.find(form)
            while i >= 0:
                spans.append((i, i + len(form), self._labels[form]))
                i = text.find(form, i + len(form))
        if spans:
            spans.sort(key=lambda span: (span[0], span[0] - span[1]))  # earliest, longest
            out: list[str] = []
            pos = 0
            for start, end, name in spans:
                if start >= pos:
                    out += (text[pos:start], name)
                # One overlapping a replaced one (two values sharing text) widens it.
                pos = max(pos, end)
            out.append(text[pos:])
            text = "".join(out)
        if _CLIP_MARK in text:
            text = self._cut_prefixes(text)
        return text

    def _cut_prefixes(self, text: str) -> str:
        """A value's prefix (MIN_VALUE or more characters) right before a clip marker."""
        out: list[str] = []
        pos = 0
        while (mark := text.find(_CLIP_MARK, pos)) >= 0:
            head = text[pos:mark]
            # A clip by bytes can split a character, which the UTF-8 repair turns into
            # U+FFFD: compare without it (and the space before Lua's marker).
            end = len(head.rstrip("\ufffd "))
            found = self._prefix_at_end(head[:end])
            if found is not None:
                start, form = found
                head = head[:start] + self._labels[form] + head[end:]
            out.append(head + _CLIP_MARK)
            pos = mark + len(_CLIP_MARK)
        out.append(text[pos:])
        return "".join(out)

    def _prefix_at_end(self, head: str) -> tuple[int, str] | None:
        """(start, form) of the longest prefix of a form that `head` ends with."""
        best: tuple[int, str] | None = None
        for form in self._forms:
            base = max(0, len(head) - len(form))
            window = head[base:]
            i, last = 0, len(window) - MIN_VALUE
            while 0 <= i <= last:
                i = window.find(form[0], i, last + 1)
                if i < 0:
                    break
                if form.startswith(window[i:]):
                    if best is None or base + i < best[0]:
                        best = (base + i, form)
                    break
                i += 1
        return best

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def redactor(scratch: Mapping[str, Any]) -> Redactor | None:
    """The run's redactor, or None when it read no secret (the common case: free)."""
    secrets = scratch.get(SCRATCH)
    return Redactor(secrets) if secrets else None


def redact_value(scratch: Mapping[str, Any], value: Any) -> Any:
    """`value` with the run's secrets replaced (as is when it read none)."""
    r = redactor(scratch)
    return value if r is None else r.value(value)


def redact_execution(exe: Execution, scratch: Mapping[str, Any]) -> None:
    """In place, before the record leaves the worker: logs, calls, error, result."""
    r = redactor(scratch)
    if r is None:
        return
    exe.logs[:] = [LogLine(line.level, line.ts, r.text(line.message)) for line in exe.logs]
    exe.calls[:] = [r.value(call) for call in exe.calls]
    if exe.error is not None:
        exe.error = r.text(exe.error)
    exe.result = r.value(exe.result)
