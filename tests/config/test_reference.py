"""docs/config.md is the config models written out: a key added, renamed or re-described shows up there."""

from __future__ import annotations

from edge.config_reference import DOC, render


def test_the_config_reference_matches_the_models() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/config.md is out of date: run `.venv/bin/python -m edge.config_reference > docs/config.md`")


def test_the_reference_names_every_section_and_the_keys_others_rely_on() -> None:
    text = render()
    for fragment in ("### EdgeConfig", "### DispatchConfig", "### Registry", "### MqttConfig", "`password_env`",
                     "`token_env`", "`edge_token_env`", "`listen`", "`source`", "### ElevatorConfig"):
        assert fragment in text, fragment
