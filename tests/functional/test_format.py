"""The TUI's pure helpers: masking, durations, sizes, modes, builds, notices."""

from __future__ import annotations

from dataclasses import replace

from devenv.engine.api import UnitInfo
from devenv.events import Notice, UnitState
from devenv.secrets import is_secret_name
from devenv.tui.format import (
    DASH,
    MASK,
    SecretMasker,
    build_label,
    can_switch,
    duration,
    mask_environment,
    other_kind,
    percent,
    single_mode_reason,
    size,
    state_glyph,
    without_stale_figures,
)
from devenv.tui.notices import NoticeLog


def test_secret_names() -> None:
    for name in (
        "DB_PASSWORD",
        "api_token",
        "SECRET",
        "AWS_SECRET_ACCESS_KEY",
        "STRIPE_KEY",
        "SSH_PRIVATE_KEY",
        "PGPASSWD",
    ):
        assert is_secret_name(name)
    for name in ("DB_HOST", "LOG_LEVEL", "PORT"):
        assert not is_secret_name(name)


def test_environment_masking_and_reveal() -> None:
    env = [("DB_HOST", "localhost"), ("DB_PASSWORD", "pw123"), ("EMPTY_TOKEN", "")]
    assert mask_environment(env) == [
        ("DB_HOST", "localhost"),
        ("DB_PASSWORD", MASK),
        ("EMPTY_TOKEN", ""),
    ]
    assert mask_environment(env, reveal=True) == env


def test_secret_masker_masks_every_occurrence_longest_first() -> None:
    masker = SecretMasker(["hunter2", "hunter2-extended", "ab"])
    assert masker.mask("pw=hunter2-extended and hunter2") == f"pw={MASK} and {MASK}"
    assert masker.mask("ab stays") == "ab stays"  # too short to mask safely


def test_secret_masker_leaves_a_value_inside_a_longer_word_alone() -> None:
    masker = SecretMasker(["dev"])
    assert (
        masker.mask("postgresql://app:dev@127.0.0.1/app")
        == f"postgresql://app:{MASK}@127.0.0.1/app"
    )
    assert masker.mask("created container devenv-demo-redis-1") == (
        "created container devenv-demo-redis-1"
    )
    assert not SecretMasker([])
    assert SecretMasker([]).mask("x") == "x"


def test_duration_is_coarse_after_a_minute() -> None:
    assert duration(0) == "0s"
    assert duration(59.9) == "59s"
    assert duration(61) == duration(119) == "1m"
    assert duration(3600 + 7 * 60) == "1h07m"
    assert duration(3 * 86400 + 4 * 3600) == "3d04h"
    assert duration(-5) == "0s"


def test_sizes_and_percentages() -> None:
    assert size(None) == DASH
    assert size(512 * 1024) == "512K"
    assert size(int(9.5 * 2**20)) == "9.5M"
    assert size(61 * 2**20) == "61M"
    assert size(3 * 2**30) == "3.0G"
    assert percent(None) == DASH
    assert percent(0.2) == "0%"
    assert percent(0.7) == "<1%"
    assert percent(12.4) == "12%"


def test_state_glyphs() -> None:
    assert state_glyph(UnitState.READY, 3) == "●"
    assert state_glyph(UnitState.STARTING, None) == "◌"
    assert state_glyph(UnitState.STARTING, 0) != state_glyph(UnitState.STARTING, 1)


def test_environment_masks_secrets_embedded_in_other_variables() -> None:
    masker = SecretMasker(["hunter2"])
    env = [("DB_PASSWORD", "hunter2"), ("DATABASE_URL", "postgres://app:hunter2@db/app")]
    assert mask_environment(env, masker=masker) == [
        ("DB_PASSWORD", MASK),
        ("DATABASE_URL", f"postgres://app:{MASK}@db/app"),
    ]
    assert mask_environment(env, reveal=True, masker=masker) == env


def test_build_label() -> None:
    assert build_label(None) is None and build_label("") is None
    assert build_label("building") == ("building", "$text-warning", "")
    assert build_label("build failed: main.go:3: syntax error") == (
        "build failed",
        "bold $text-error",
        "main.go:3: syntax error",
    )


def test_modes() -> None:
    base = UnitInfo("api", "api", "process", UnitState.READY)
    both = replace(base, modes=("process", "container"))
    assert can_switch(both) and other_kind(both) == "container"
    assert other_kind(replace(both, kind="container")) == "process"
    local = replace(base, modes=("process",))
    assert not can_switch(local) and other_kind(local) is None
    assert single_mode_reason(local) == "api has no image or build: it can only run locally"
    container = replace(base, kind="container", modes=("container",))
    assert other_kind(container) is None
    assert single_mode_reason(container) == (
        "api has no x-devenv block: it can only run as a container"
    )
    # An engine that does not say is asked: it refuses with its own reason.
    assert not can_switch(base) and other_kind(base) == "container"


def test_no_stale_figures_without_a_running_instance() -> None:
    unit = UnitInfo(
        "api",
        "api",
        "process",
        UnitState.READY,
        health="healthy",
        cpu_percent=3.0,
        memory_bytes=1024,
    )
    assert without_stale_figures(unit) is unit
    assert without_stale_figures(replace(unit, state=UnitState.STOPPING)).cpu_percent == 3.0
    for state in (UnitState.CRASHED, UnitState.STOPPED, UnitState.BACKOFF, UnitState.WAITING):
        gone = without_stale_figures(replace(unit, state=state))
        assert (gone.health, gone.cpu_percent, gone.memory_bytes) == (None, None, None)


def test_notice_log_counts_unread_warnings_and_is_bounded() -> None:
    log = NoticeLog(limit=3)
    log.add(Notice("applied", "info"))
    log.add(Notice("disk full", "warning"))
    log.add(Notice("cannot start", "error"))
    assert log.unread == 2 and len(log) == 3
    log.mark_read()
    log.add(Notice("again", "warning"))
    assert log.unread == 1 and [n.text for n in log] == ["disk full", "cannot start", "again"]
