"""``--help`` texts as rich renders them: bracketed config sections survive markup."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ltrr.cli.app import app
from ltrr.config import Config, defaults
from ltrr.log.rewards import RewardMap


def _help(*command: str) -> str:
    """The help text on one line: wide enough that rich wraps nothing."""
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_feedback_help_lists_the_action_kinds() -> None:
    text = _help("feedback")
    kinds = list(RewardMap.from_config(Config(defaults())).kind_to_reward)
    assert kinds[:3] == ["click", "play", "like"] and "dislike" in kinds
    assert f"one of {', '.join(kinds)}" in text
    assert "[log.rewards]" in text
    assert "Action kind ()" not in text


@pytest.mark.parametrize("command", ["index", "search"])
def test_strategies_help_names_the_select_section(command: str) -> None:
    assert "(default: [select] strategies)" in _help(command)


def test_catalog_migrate_is_a_command() -> None:
    assert "schema" in _help("catalog", "migrate")


@pytest.mark.parametrize("command", ["simulate", "traffic"])
def test_click_model_help_lists_every_model_and_eta(command: str) -> None:
    text = _help(command)
    models = "perfect, navigational, informational, pbm-navigational, pbm-informational"
    assert f"One of {models}." in text
    assert "--eta" in text and "[simulate] eta = 1" in text
