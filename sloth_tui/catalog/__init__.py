"""Catalog of Sloth Runner event types, built from the seed event reference.

The data lives in ``catalog.json`` beside this module: a list of categories, each with its
event types; a type's ``fields`` maps the seed's field spelling (``failed_tasks[]``,
``payload{}``, ``agent.name``) to a realistic sample value. It is loaded once, on first use.

Beyond the seed's 86 types the data holds the types Sloth Runner itself emits (its stack
state emitter, its agent watchers), each marked ``"extension": "sloth-runner"`` (a whole
new category may carry the mark for its types). ``get`` and the naming rules know them
all; the listings (``categories``, ``types``, ``type_names``, ``field_names``) give the
seed's view unless asked for ``extensions=True``, so the seed's 86 stay what they were.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from typing import Any, Literal

from sloth_tui.model.errors import EventRefused

__all__ = [
    "Category",
    "EventType",
    "FieldKind",
    "FieldSpec",
    "categories",
    "category",
    "category_of",
    "closest_types",
    "field_names",
    "get",
    "is_extension",
    "sample_data",
    "type_names",
    "types",
]

FieldKind = Literal["scalar", "list", "object"]

# Seed suffix -> field kind; anything without a suffix is a scalar.
_SUFFIXES: dict[str, FieldKind] = {"[]": "list", "{}": "object"}
_SAMPLE_TYPES: dict[FieldKind, tuple[type, ...]] = {
    "scalar": (str, int, float, bool, type(None)),
    "list": (list,),
    "object": (dict,),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One data field of an event type."""

    name: str  # seed name without the []/{} suffix, e.g. "agent.name"
    kind: FieldKind
    # Excluded from eq/hash so specs stay hashable although list/dict samples are not.
    sample: Any = field(compare=False)

    @property
    def path(self) -> tuple[str, ...]:
        """Key path into event data: dotted names are nested objects."""
        return tuple(self.name.split("."))


SEED_ORIGIN = "seed"


@dataclass(frozen=True, slots=True)
class EventType:
    type: str
    category: str
    description: str
    fields: tuple[FieldSpec, ...]
    # Whose extension of the seed this type is ("sloth-runner"); None for the seed's own.
    extension: str | None = None

    @property
    def origin(self) -> str:
        """The label front ends show: "seed", or "sloth-runner extension"."""
        return f"{self.extension} extension" if self.extension else SEED_ORIGIN


@dataclass(frozen=True, slots=True)
class Category:
    name: str  # id, also the event-type prefix (except restore.* / dir.* / custom / watcher)
    title: str
    description: str
    types: tuple[EventType, ...]
    extension: str | None = None  # a category the seed lacks altogether


def _field(raw_name: str, sample: Any) -> FieldSpec:
    kind: FieldKind = _SUFFIXES.get(raw_name[-2:], "scalar")
    name = raw_name[:-2] if kind != "scalar" else raw_name
    if not isinstance(sample, _SAMPLE_TYPES[kind]):
        raise ValueError(f"catalog.json: sample for {raw_name!r} is not a {kind}: {sample!r}")
    return FieldSpec(name, kind, sample)


@dataclass(frozen=True, slots=True)
class _View:
    categories: tuple[Category, ...]
    by_name: dict[str, Category]
    by_type: dict[str, EventType]

    @classmethod
    def of(cls, cats: tuple[Category, ...]) -> _View:
        return cls(cats, {c.name: c for c in cats}, {t.type: t for c in cats for t in c.types})


@dataclass(frozen=True, slots=True)
class _Catalog:
    full: _View  # the seed and its extensions, in the data's order
    seed: _View  # the seed's 86 types in 16 categories, as the seed reference lists them


def _event_type(raw: dict[str, Any], cat: dict[str, Any]) -> EventType:
    extension = raw.get("extension", cat.get("extension"))
    if cat.get("extension") and not extension:
        raise ValueError(f"catalog.json: {raw['type']} is a seed type in extension category")
    return EventType(
        type=raw["type"],
        category=cat["name"],
        description=raw["description"],
        fields=tuple(_field(n, s) for n, s in raw["fields"].items()),
        extension=extension,
    )


@cache
def _catalog() -> _Catalog:
    # importlib.resources and difflib are imported where used: a command that never looks
    # at the catalog (most of those talking to a daemon) need not pay for them (issue 19).
    from importlib import resources

    raw = json.loads(resources.files(__package__).joinpath("catalog.json").read_text("utf-8"))
    cats = tuple(
        Category(
            name=c["name"],
            title=c["title"],
            description=c["description"],
            types=tuple(_event_type(t, c) for t in c["types"]),
            extension=c.get("extension"),
        )
        for c in raw["categories"]
    )
    seed = tuple(
        dataclasses.replace(c, types=tuple(t for t in c.types if not t.extension))
        for c in cats
        if not c.extension
    )
    return _Catalog(full=_View.of(cats), seed=_View.of(seed))


def _view(extensions: bool) -> _View:
    return _catalog().full if extensions else _catalog().seed


def get(type_name: str) -> EventType | None:
    """The event type called ``type_name`` (seed or extension), or None if unknown."""
    return _catalog().full.by_type.get(type_name)


def is_extension(type_name: str) -> bool:
    """True for a type the catalog has as an extension of the seed (a sloth-runner type)."""
    event = get(type_name)
    return event is not None and event.extension is not None


def categories(*, extensions: bool = False) -> list[Category]:
    """All categories in seed order; with ``extensions``, theirs too, extension types in."""
    return list(_view(extensions).categories)


def category(name: str, *, extensions: bool = False) -> Category:
    """The category with id ``name``; KeyError listing the valid ids if unknown."""
    return _category(name, extensions)


def _category(name: str, extensions: bool) -> Category:  # where a parameter shadows category()
    view = _view(extensions)
    try:
        return view.by_name[name]
    except KeyError:
        known = ", ".join(view.by_name)
        raise KeyError(f"unknown event category {name!r}; known categories: {known}") from None


def types(category: str | None = None, *, extensions: bool = False) -> list[EventType]:
    """All event types in seed order, or only those of one category (KeyError if unknown);
    with ``extensions``, the sloth-runner extension types too."""
    if category is None:
        return list(_view(extensions).by_type.values())
    return list(_category(category, extensions).types)


def sample_data(type_name: str) -> dict[str, Any]:
    """A fresh dict of sample values for every field, dotted names nested; {} if unknown."""
    event = get(type_name)
    data: dict[str, Any] = {}
    for spec in event.fields if event else ():
        *parents, leaf = spec.path
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = copy.deepcopy(spec.sample)
    return data


def category_of(type_name: str) -> str:
    """Catalog category of a known type; otherwise the text before the first dot."""
    event = get(type_name)
    return event.category if event else type_name.partition(".")[0]


def type_names(*, extensions: bool = False) -> list[str]:
    """Names of all event types, in seed order (and the extensions' with ``extensions``)."""
    return list(_view(extensions).by_type)


def field_names(*, extensions: bool = False) -> list[str]:
    """Every distinct field name (no suffix), in order of first appearance."""
    names = (f.name for t in _view(extensions).by_type.values() for f in t.fields)
    return list(dict.fromkeys(names))


def closest_types(name: str, limit: int = 3) -> list[str]:
    """Known types spelled like ``name`` (a likely typo), closest first; [] if none is close.

    Types of the same category come first: `deploy.faild` suggests `deploy.failed`
    before `task.failed`.
    """
    if not name or get(name) is not None:
        return []
    import difflib

    prefix = name.partition(".")[0]
    names = type_names(extensions=True)
    same = [n for n in names if n.partition(".")[0] == prefix]
    found = difflib.get_close_matches(name, same, n=limit, cutoff=0.6)
    if len(found) < limit:
        others = difflib.get_close_matches(name, names, n=limit, cutoff=0.75)
        found += [n for n in others if n not in found][: limit - len(found)]
    return found


# -- names: the rules and warnings the engine's door and the front ends share -------------

_TYPE_NAME_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+$")


def check_type_name(name: object) -> str:
    """Return the name if it is `category.action` or `custom`; raise EventRefused otherwise."""
    if not isinstance(name, str) or not name:
        raise EventRefused("event type must be a non-empty string")
    if name == "custom" or _TYPE_NAME_RE.match(name):
        return name
    raise EventRefused(
        f"invalid event type {name!r}: use category.action (lowercase letters, digits, "
        "underscore, exactly one dot) or custom"
    )


def pattern_matches_catalog(pattern: str) -> bool:
    """False means the pattern matches no catalog type: worth a warning, still allowed."""
    return any(fnmatchcase(name, pattern) for name in type_names(extensions=True))


@cache
def _prefixes() -> dict[str, str]:
    """Type-name prefix -> catalog category (`restore` -> `backup`), for the seed's types:
    the seed claims these prefixes. Not `custom`: it is a type of its own, and `custom.*`
    names are the user's."""
    return {
        prefix: t.category for t in types() for prefix, dot, _ in [t.type.partition(".")] if dot
    }


@cache
def _extension_prefixes() -> frozenset[str]:
    """Prefixes only extension types use (`process`, `log`, `resource`): generic words a
    user's own types may well start with, so only a likely typo there is worth a warning.
    `custom.*` stays the user's altogether (upstream's `custom.triggered` included)."""
    names = (t.type.partition(".") for t in types(extensions=True) if t.extension)
    return frozenset(p for p, dot, _ in names if dot and p != "custom") - set(_prefixes())


TYPO_RATIO = 0.8  # difflib ratio from which a known type is a likely intended spelling


def unknown_type_warning(type_name: str) -> str | None:
    """For a type the catalog lacks in a category it has (`deploy.faild`), the warning:
    the closest known types when some are close, else where to look. Under a prefix only
    extensions use (`process.startd`) only a close typo warns. None for known types,
    `custom` and other categories (`myapp.*` is the user's own business)."""
    if get(type_name) is not None:
        return None
    prefix, dot, _ = type_name.partition(".")
    category = _prefixes().get(prefix) if dot else None
    typo_only = category is None and dot != "" and prefix in _extension_prefixes()
    if category is None and not typo_only:
        return None
    import difflib

    scored = [
        (difflib.SequenceMatcher(None, type_name, known).ratio(), known)
        for known in closest_types(type_name)
    ]
    best = max((score for score, _ in scored), default=0.0)
    if best >= TYPO_RATIO:
        close = [known for score, known in scored if score >= best - 0.1]
        guess = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
        return f"unknown type {type_name}: did you mean {guess}?"
    if typo_only:
        return None
    return (
        f"unknown type {type_name}: not among the catalog's {category} types "
        f"(see `sloth-tui event types --category {category}`)"
    )
