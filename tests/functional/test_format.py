"""The TUI's pure helpers: masking, durations, sizes."""

from __future__ import annotations

from devenv.events import UnitState
from devenv.secrets import is_secret_name
from devenv.tui.format import (
    DASH,
    MASK,
    SecretMasker,
    duration,
    mask_environment,
    percent,
    size,
    state_glyph,
)


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
