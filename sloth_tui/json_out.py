"""JSON for a terminal: what `--json` prints, shared by the full command line
(commands/output.py) and the click-free answers (quick_query.py).

json.dumps(ensure_ascii=False) escapes C0 controls itself and leaves the rest raw; the
characters past C0 that could still act on a terminal or reorder a line are escaped
here the JSON way (``\\u202e``), which any JSON reader turns back into the same text.
"""

from __future__ import annotations

import json
import re

# Beyond C0: DEL, C1 controls, bidi marks/embeddings/overrides/isolates, line and
# paragraph separators, and lone surrogates (which are not text at all).
UNSAFE_PAST_C0 = r"\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_IN_JSON = re.compile(rf"[{UNSAFE_PAST_C0}]")


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def json_text(value: object, indent: int | None = None) -> str:
    """JSON that a terminal cannot act on and a JSON reader reads back exactly."""
    text = json.dumps(value, indent=indent, ensure_ascii=False, default=str)
    return _UNSAFE_IN_JSON.sub(_json_escape, text)
