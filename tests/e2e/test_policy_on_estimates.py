"""`harmonie release policy --on-estimates`: the defaults decided on the estimates, the demo's policy, one text."""

from __future__ import annotations

from click.testing import CliRunner

from harmonie.cli import app
from harmonie.demo import write_demo_policy
from privacy.release.policy import load_policy

cli = app()


def _printed(*args: str) -> str:
    result = CliRunner().invoke(cli, ["--quiet", "release", "policy", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_on_estimates_is_the_default_but_for_use_upper_ci_and_is_the_demos_policy(tmp_path):
    default_file, on_estimates_file = tmp_path / "default.toml", tmp_path / "policy.toml"
    default_file.write_text(_printed(), encoding="utf-8")
    text = _printed("--on-estimates")
    on_estimates_file.write_text(text, encoding="utf-8")

    default, _ = load_policy(default_file)
    on_estimates, _ = load_policy(on_estimates_file)
    assert default == load_policy(None)[0] and default["decisions"]["use_upper_ci"] is True
    assert on_estimates["decisions"] == {"use_upper_ci": False}
    assert on_estimates == {**default, "decisions": {"use_upper_ci": False}}
    # it says what it is for, in the file itself
    assert "simulated data and demonstrations only" in text.lower()

    # `harmonie demo` applies the very same text
    demo = write_demo_policy(tmp_path / "release_policy.toml")
    assert demo.read_text(encoding="utf-8") == text
