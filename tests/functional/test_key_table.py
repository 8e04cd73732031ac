"""One table of keys feeds the footer, the help screen, the palette and the docs:
each of them is checked against the table here, and the table against the app."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import Static

from devenv.tui import keys
from devenv.tui.app import DevenvApp
from devenv.tui.logview import LogView
from devenv.tui.screens import HelpScreen
from tests.functional.conftest import deterministic_app, started
from tests.functional.fake_engine import demo_engine

DOCS = Path(__file__).resolve().parents[2] / "docs" / "tui.md"


def test_ids_are_unique_and_each_key_is_bound_once_per_mode() -> None:
    assert len(keys.BY_ID) == len(keys.KEYS)
    for mode in ("local", "attached"):
        seen: dict[tuple[str, str], str] = {}
        for key in keys.for_mode(mode):  # type: ignore[arg-type]
            for name in filter(None, key.key.split(",")):
                assert (key.owner, name) not in seen, (name, key.id, seen.get((key.owner, name)))
                seen[(key.owner, name)] = key.id


def test_every_app_action_exists() -> None:
    for key in keys.KEYS:
        if key.owner == "builtin":
            continue
        target = DevenvApp if key.owner == "app" else LogView
        name = key.action.split("(", 1)[0]
        assert callable(getattr(target, f"action_{name}", None)), key.id


def test_bindings_come_from_the_table_with_their_ids() -> None:
    ids = [b.id for b in DevenvApp.BINDINGS if not isinstance(b, tuple)]
    assert set(ids) == {k.id for k in keys.KEYS if k.owner == "app" and k.key}
    assert [b.id for b in LogView.BINDINGS if not isinstance(b, tuple)] == ["follow"]


def test_docs_key_table_is_the_generated_one() -> None:
    # Regenerate with `python -m devenv.tui.keys` and paste into docs/tui.md.
    assert keys.markdown_table() in DOCS.read_text()


@pytest.mark.parametrize("attached", [False, True])
async def test_footer_help_and_palette_show_this_modes_keys(attached: bool) -> None:
    engine = demo_engine()
    app = deterministic_app(engine, attached=attached)
    mode = "attached" if attached else "local"
    async with app.run_test(size=(160, 40)) as pilot:
        if not attached:
            await started(pilot, engine)
        await pilot.pause()
        footer = {b.binding.id for b in app.active_bindings.values() if b.binding.show}
        wanted = {k.id for k in keys.for_mode(mode) if k.footer and k.owner == "app"}  # type: ignore[arg-type]
        assert footer == wanted
        assert ("detach" in footer) == attached and ("quit" in footer) != attached

        titles = {c.title for c in app.get_system_commands(app.screen)}
        for key in keys.KEYS:
            if key.title:
                assert (key.title in titles) == (mode in key.modes), key.id
        assert "Quit" not in titles  # Textual's own: ours says what quitting does

        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = _text(app.screen.query_one(Static))
        for _group, shown, what in keys.help_rows(mode):  # type: ignore[arg-type]
            assert what[:40] in text and shown.split()[0] in text
        assert ("detach: this UI closes" in text) == attached
        assert ("quit, stopping everything" in text) != attached


def _text(static: Static) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(static.content)
    return " ".join(console.export_text().split())
