"""Every key of the UI, in one table: the footer, the help screen, the command
palette and the key table of docs/tui.md are all generated from it.

As posting does, each binding has an id (Textual's `Binding.id`, which a keymap
can rebind) and the help is made from the bindings rather than written beside
them. A row also says where the key works: in both modes, only in the
in-process UI (`devenv`), or only attached to a session running elsewhere
(`devenv attach`), where `q` detaches instead of stopping everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from textual.binding import Binding, BindingType

Mode = Literal["local", "attached"]
# Who binds the key: the app, the log view, or a Textual widget (the table's
# arrows and enter, the palette's ctrl+p), which the table only documents.
Owner = Literal["app", "logview", "builtin"]
Group = Literal["services", "logs", "session"]

GROUP_TITLES: dict[Group, str] = {
    "services": "services",
    "logs": "logs",
    "session": "session",
}


@dataclass(frozen=True)
class Key:
    id: str  # Binding.id; also names the row in tests
    key: str  # Textual key names, comma-separated; "" for palette-only commands
    action: str  # the action it runs ("" for builtin keys)
    description: str  # short: the footer
    help: str  # a line of the help screen, the palette's help text and the docs
    group: Group
    footer: int = 0  # its place in the footer (1 first); 0: not in the footer
    title: str | None = None  # the command palette's entry; None: not in the palette
    display: str | None = None  # how the help screen writes the key (default: `key`)
    modes: tuple[Mode, ...] = ("local", "attached")
    owner: Owner = "app"
    priority: bool = False
    in_help: bool = True  # False for a second key already named by another row

    @property
    def shown_key(self) -> str:
        if self.display is not None:
            return self.display
        return " ".join(_KEY_NAMES.get(k, k) for k in self.key.split(","))


_KEY_NAMES = {
    "slash": "/",
    "question_mark": "?",
    "space": "space",
    "escape": "esc",
    "end": "End",
}

KEYS: tuple[Key, ...] = (
    # ---- services ---------------------------------------------------------------
    Key(
        "select-down",
        "j",
        "select(1)",
        "Down",
        "select a service (click works too)",
        "services",
        display="↑ ↓  j k",
    ),
    Key("select-up", "k", "select(-1)", "Up", "", "services", in_help=False),
    Key(
        "expand",
        "space",
        "expand",
        "Expand",
        "expand or collapse a service's replicas",
        "services",
        title="Expand replicas",
    ),
    Key(
        "focus-logs",
        "enter",
        "",
        "Logs",
        "focus the logs (esc: back to the services)",
        "services",
        owner="builtin",
    ),
    Key(
        "restart",
        "r",
        "restart",
        "Restart",
        "restart the selected service",
        "services",
        footer=3,
        title="Restart service",
    ),
    Key(
        "stop-start",
        "s",
        "stop_start",
        "Stop/Start",
        "stop the selected service, or start it when stopped",
        "services",
        footer=4,
        title="Stop or start service",
    ),
    Key(
        "restart-all",
        "R",
        "restart_all",
        "Restart all",
        "restart every service",
        "services",
        title="Restart all",
    ),
    Key(
        "mode",
        "m",
        "flip_mode",
        "Mode",
        "run the selected service as a local process or as a container",
        "services",
        footer=5,
        title="Switch mode (process/container)",
    ),
    Key(
        "open",
        "o",
        "open_port",
        "Open",
        "open the service's port in a browser (click works too)",
        "services",
        title="Open port",
    ),
    Key(
        "details",
        "d",
        "details",
        "Details",
        "details: command, mode, dependencies, environment and its rewrites",
        "services",
        footer=6,
        title="Details",
    ),
    # ---- logs -------------------------------------------------------------------
    Key(
        "all-logs",
        "a",
        "all_logs",
        "All logs",
        "every service's log, interleaved (again: back to the selection)",
        "logs",
        footer=7,
        title="All logs",
    ),
    Key(
        "search",
        "slash",
        "prompt('search')",
        "Search",
        "search the logs (matches highlighted)",
        "logs",
        footer=8,
        title="Search logs",
    ),
    Key(
        "next-match",
        "n",
        "find(True)",
        "Next match",
        "next / previous search match",
        "logs",
        display="n N",
        title="Next match",
    ),
    Key(
        "prev-match",
        "N",
        "find(False)",
        "Prev match",
        "previous search match",
        "logs",
        title="Previous match",
        in_help=False,
    ),
    Key(
        "filter",
        "f",
        "prompt('filter')",
        "Filter",
        "show only lines containing a text (empty: all)",
        "logs",
        footer=9,
        title="Filter logs",
    ),
    Key("wrap", "w", "wrap", "Wrap", "wrap long lines", "logs", title="Toggle wrap"),
    Key(
        "timestamps",
        "t",
        "timestamps",
        "Times",
        "show timestamps",
        "logs",
        title="Toggle timestamps",
    ),
    Key("clear", "c", "clear_logs", "Clear", "clear the log pane", "logs", title="Clear logs"),
    Key(
        "follow",
        "end",
        "follow",
        "Follow",
        "follow the log again after scrolling up",
        "logs",
        owner="logview",
    ),
    Key(
        "reveal",
        "v",
        "reveal",
        "Reveal",
        "reveal or mask secret values (logs and details)",
        "logs",
        title="Reveal secrets",
    ),
    # ---- session ----------------------------------------------------------------
    Key(
        "notices",
        "e",
        "notices",
        "Notices",
        "notices: warnings and errors from devenv, newest last",
        "session",
        title="Notices",
    ),
    Key(
        "back",
        "escape",
        "go_back",
        "Back",
        "close the prompt, clear the search, or go back to the services",
        "session",
    ),
    Key(
        "palette",
        "ctrl+p",
        "",
        "Commands",
        "command palette: every action, the theme",
        "session",
        owner="builtin",
    ),
    Key("help", "question_mark", "help", "Help", "this help", "session", footer=10, title="Help"),
    Key(
        "theme",
        "",
        "toggle_theme",
        "Theme",
        "switch between the light and dark theme",
        "session",
        title="Toggle light/dark",
    ),
    Key(
        "quit",
        "q",
        "quit",
        "Quit",
        "quit, stopping everything (q again: at once)",
        "session",
        footer=1,
        title="Quit devenv",
        modes=("local",),
    ),
    Key(
        "quit-ctrl",
        "ctrl+q,ctrl+c",
        "quit",
        "Quit",
        "",
        "session",
        modes=("local",),
        priority=True,
        in_help=False,
    ),
    Key(
        "detach",
        "q",
        "detach",
        "Detach",
        "detach: this UI closes, the stack keeps running",
        "session",
        footer=1,
        title="Detach",
        modes=("attached",),
    ),
    Key(
        "detach-ctrl",
        "ctrl+q,ctrl+c",
        "detach",
        "Detach",
        "",
        "session",
        modes=("attached",),
        priority=True,
        in_help=False,
    ),
    Key(
        "stop-session",
        "Q",
        "stop_session",
        "Stop all",
        "stop the whole session, every service (asks first)",
        "session",
        footer=2,
        title="Stop the session",
        modes=("attached",),
    ),
)

BY_ID: dict[str, Key] = {k.id: k for k in KEYS}
MODE_COMMAND: dict[Mode, str] = {"local": "devenv", "attached": "devenv attach"}


def bindings(owner: Owner) -> list[BindingType]:
    """The `BINDINGS` of one owner, for every mode: the app hides (and refuses) the
    other mode's actions in `check_action`, so `q` can mean quit or detach."""
    mine = [k for k in KEYS if k.owner == owner and k.key]
    # The footer shows bindings in the order given, and cuts what does not fit: the
    # footer's own order first (quit before search), then the keys it does not show.
    mine.sort(key=lambda k: k.footer or len(KEYS))
    return [
        Binding(
            k.key,
            k.action,
            k.description,
            show=bool(k.footer),
            priority=k.priority,
            tooltip=k.help,
            id=k.id,
        )
        for k in mine
    ]


def for_mode(mode: Mode) -> list[Key]:
    return [k for k in KEYS if mode in k.modes]


def actions_outside(mode: Mode) -> frozenset[str]:
    """Action names (without arguments) bound only in the other mode."""
    mine = {_action_name(k.action) for k in for_mode(mode)}
    return frozenset(_action_name(k.action) for k in KEYS if _action_name(k.action) not in mine)


def _action_name(action: str) -> str:
    return action.split("(", 1)[0]


def help_rows(mode: Mode) -> list[tuple[Group, str, str]]:
    """(group, key as shown, what it does) for the help screen, in table order."""
    return [(k.group, k.shown_key, k.help) for k in for_mode(mode) if k.in_help and k.key]


def palette_entries(mode: Mode) -> list[Key]:
    return [k for k in for_mode(mode) if k.title]


def markdown_table(rows: Iterable[Key] = KEYS) -> str:
    """The docs' key table (docs/tui.md), so the docs cannot drift from the keys."""
    lines = ["| key | does |", "|---|---|"]
    for k in rows:
        if not (k.in_help and k.key):
            continue
        keys = " ".join(f"`{part}`" for part in k.shown_key.split())
        where = "" if len(k.modes) == 2 else f" (`{MODE_COMMAND[k.modes[0]]}` only)"
        lines.append(f"| {keys} | {k.help}{where} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
