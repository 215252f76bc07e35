"""Shell completion of hook names, event types and categories (click's shell_complete).

The shell runs `sloth-tui` with `_SLOTH_TUI_COMPLETE=bash_complete` (zsh_complete,
fish_complete) at every Tab and reads the candidates from stdout, while its stderr
lands in the middle of the command line being typed. So these functions must be quick
and silent: any failure (no data dir yet, a broken config.toml, a daemon that does not
answer, a store being migrated) completes nothing, and nothing is printed.

Hook names come from the registry: through the daemon when one answers (so hooks added
since are there), else from the store opened read-only. Event types and categories come
from the catalog, which is data in the package.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import click
from click.shell_completion import CompletionItem

from sloth_tui.commands.output import clean

LOOKUP_TIMEOUT = 2.0  # seconds: past this, a Tab completes nothing rather than hang
HELP_MAX = 60  # characters of a candidate's description (zsh and fish show it)
# A name a shell could not take back as typed text (or that could drive the terminal
# from zsh's menu) is never offered; names are checked when hooks are added anyway.
_UNOFFERABLE = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _help(text: str | None) -> str | None:
    if not text:
        return None
    line = clean(text)
    return line if len(line) <= HELP_MAX else line[: HELP_MAX - 1] + "…"


def _items(candidates: list[tuple[str, str | None]], incomplete: str) -> list[CompletionItem]:
    return [
        CompletionItem(value, help=_help(help_text))
        for value, help_text in candidates
        if value.startswith(incomplete) and not _UNOFFERABLE.search(value)
    ]


# -- event types and categories: the catalog ------------------------------------------


def event_types(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """A concrete type (`event dispatch TYPE`, `hook test --event`)."""
    return _items(_type_candidates(), incomplete)


def type_patterns(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """A type or a glob over one category (`hook add --event`, `event list --type`):
    `deploy.*` first, then the category's types."""
    from sloth_tui import catalog  # here: its records cost every command's start-up

    # From the types' own prefixes: a category's name is not always one (restore.*).
    prefixes = dict.fromkeys(t.partition(".")[0] for t in catalog.type_names(extensions=True))
    globs = [(f"{p}.*", f"every {p}.* event") for p in prefixes if p != "custom"]
    return _items([*globs, *_type_candidates()], incomplete)


def categories(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """A category (`event list --category`, `event types --category`)."""
    from sloth_tui import catalog  # here: its records cost every command's start-up

    cats = catalog.categories(extensions=True)
    return _items([(c.name, c.description) for c in cats], incomplete)


def _type_candidates() -> list[tuple[str, str | None]]:
    from sloth_tui import catalog  # here: its records cost every command's start-up

    return [(t.type, t.description) for t in catalog.types(extensions=True)]


# -- hook names: the registry ---------------------------------------------------------


def hook_names(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """The registry's hook names, described; [] on any trouble, never a word on stderr."""
    import asyncio  # here: the commands that merely declare completions need not load it

    try:
        with _quiet():
            hooks = asyncio.run(asyncio.wait_for(_read_hooks(ctx), LOOKUP_TIMEOUT))
    except (Exception, SystemExit):  # SystemExit: a helper that would have said `error:`
        return []
    return _items(hooks, incomplete)


async def _read_hooks(ctx: click.Context) -> list[tuple[str, str | None]]:
    """The same engine choice as every command (--home, --attach, --token-file and
    --embedded as typed so far on the line), read-only when local."""
    from sloth_tui.commands.common import engine_for
    from sloth_tui.config import load_settings
    from sloth_tui.remote.client import choose_engine

    root = ctx.find_root()
    params = root.params  # parsed, but main()'s callback does not run while completing
    home = params.get("home")
    if home == "":
        return []
    settings = load_settings(home)
    attach, token_file = params.get("attach"), params.get("token_file")
    embedded = bool(params.get("embedded"))
    # Asked here first so that a refusal (--attach with nothing there) is an exception
    # caught above, not engine_for's one-line error and exit.
    address = choose_engine(settings, attach, embedded, token_file)
    if address is None and not settings.db_path.exists():
        return []  # no store yet: nothing to offer, and completing must not create one
    root.obj = {
        "settings": settings,
        "attach": attach,
        "token_file": token_file,
        "embedded": embedded,
    }
    async with engine_for(ctx, readonly=True) as engine:
        hooks = await engine.list_hooks()
    return [(h.name, h.description) for h in hooks]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Nothing reaches the shell's stderr: no log record, no warning, no print."""
    import io
    import logging
    import warnings

    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
