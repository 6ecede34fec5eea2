"""Hostile eligibility specs (issue #20): every bad TOML is one line, exit 2, naming the file, the key and the fix.

The spec is read before any data, so these cases need no dataset: the trial and source paths do not exist.
"""

from __future__ import annotations

import pytest

from hostile.hostile_helpers import one_line_error, run
from synth.arms.eligibility import example_eligibility_text

BASE = '[eligibility]\ncancer = "lung"\n'
CASES = {
    "not TOML": ('[eligibility\ncancer = "lung"', "not valid TOML"),
    "no eligibility section": ('[index]\ndate = "diagnosis"\n', "no [eligibility] section"),
    "a typo in a section": ('[eligibilty]\ncancer = "lung"\n', "did you mean 'eligibility'"),
    "a typo in a key": (BASE + "stage = [3]\n", "eligibility.stage (did you mean 'stages'?)"),
    "no cancer": ("[eligibility]\nstages = [3]\n", "eligibility.cancer is missing"),
    "an unknown cancer": ('[eligibility]\ncancer = "lungs"\n', "eligibility.cancer is not a known value (did you mean 'lung'?)"),
    "another cancer's subtype": (BASE + 'subtypes = ["HER2+"]\n', "eligibility.subtypes[0]"),
    "a stage 5": (BASE + "stages = [5]\n", "eligibility.stages[0] must be between 1 and 4"),
    "stages as text": (BASE + 'stages = "3"\n', "eligibility.stages must be a non-empty list"),
    "no stage at all": (BASE + "stages = []\n", "eligibility.stages must be a non-empty list"),
    "age backwards": (BASE + "age = [80, 18]\n", "eligibility.age runs backwards"),
    "age of one bound": (BASE + "age = [18]\n", "eligibility.age must be a [first, last] pair"),
    "age as decimals": (BASE + "age = [18.5, 70]\n", "eligibility.age[0] must be a whole number"),
    "a sex that is not F or M": (BASE + 'sex = ["W"]\n', "eligibility.sex[0] is not a known value"),
    "a treatment typo": (BASE + 'treatments_required = ["chemo"]\n', "(known: surgery, chemotherapy"),
    "required and excluded": (BASE + 'treatments_required = ["surgery"]\ntreatments_excluded = ["surgery"]\n',
                              "both list 'surgery'"),
    "an unknown kind of care": (BASE + 'care_excluded = ["targeted"]\n', "eligibility.care_excluded[0]"),
    "a care listed twice": (BASE + 'care_required = ["surgery", "surgery"]\n', "lists a value twice"),
    "a negative washout": (BASE + "washout_days = -1\n", "eligibility.washout_days must be between 0 and 36,500"),
    "an infinite washout": (BASE + "washout_days = inf\n", "eligibility.washout_days must be a whole number"),
    "a true washout": (BASE + "washout_days = true\n", "eligibility.washout_days must be a whole number"),
    "an unknown index rule": (BASE + '[index]\ndate = "randomisation"\n', "index.date is not a known value"),
    "index care excluded": (BASE + 'care_excluded = ["surgery"]\n[index]\ndate = "first_care"\ncare = ["surgery"]\n',
                            "index.care lists 'surgery'"),
    "no index care": (BASE + '[index]\ndate = "first_care"\ncare = []\n', "index.care must name at least one"),
    "an unknown method": (BASE + '[analysis]\nmethod = "ipw"\n', "analysis.method is not a known value"),
    "a post-baseline covariate": (BASE + '[analysis]\ncovariates = ["n_stays"]\n', "analysis.covariates[0]"),
    "no neighbour": (BASE + "[analysis]\nneighbours = 0\n", "analysis.neighbours must be between 1 and 10"),
    "a caliper that is a flag": (BASE + "[analysis]\ncaliper_sd = true\n", "analysis.caliper_sd must be a number"),
    "a NaN caliper": (BASE + "[analysis]\ncaliper_sd = nan\n", "analysis.caliper_sd must be a number"),
    "adjust as text": (BASE + '[analysis]\nadjust = "yes"\n', "analysis.adjust must be true or false"),
    "a few bootstrap replicates": (BASE + "[analysis]\nbootstrap = 5\n", "analysis.bootstrap must be 0"),
    "min_cell 0": (BASE + "[disclosure]\nmin_cell = 0\n", "disclosure.min_cell must be between 1 and 10,000"),
    "a section as a value": (BASE + "index = 3\n", "unknown key eligibility.index"),
    "a top-level value for a section": ('analysis = 3\n' + BASE, "analysis must be a section [analysis]"),
    "a name that is not text": ("name = 3\n" + BASE, "name must be a text value"),
    "deep nesting": (BASE + "x = " + "[" * 5000 + "]" * 5000 + "\n", "eligibility"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_eligibility_spec_is_one_line_naming_the_key(tmp_path, case):
    text, mention = CASES[case]
    path = tmp_path / "elig.toml"
    path.write_text(text, encoding="utf-8")
    message = one_line_error(run("arm", "build", "--trial", tmp_path / "none", "--eligibility", path,
                                 "--source", tmp_path / "none", "--out", tmp_path / "out"), str(path), mention)
    assert not (tmp_path / "out").exists(), message


@pytest.mark.parametrize("content, mention", [(b"\xff\xfe[eligibility]", "not UTF-8"),
                                              (b"#" * (2 << 20), "over 1 MiB")])
def test_an_unreadable_spec_is_one_line(tmp_path, content, mention):
    path = tmp_path / "elig.toml"
    path.write_bytes(content)
    one_line_error(run("arm", "simulate-trial", "--source", tmp_path, "--eligibility", path, "--out", tmp_path / "o"),
                   str(path), mention)


def test_a_missing_spec_says_how_to_write_one(tmp_path):
    one_line_error(run("arm", "calibrate", "--warehouse", tmp_path, "--trial-source", tmp_path, "--eligibility",
                       tmp_path / "nope.toml", "--out", tmp_path / "o"), "not found", "example-eligibility")


def test_the_example_spec_is_accepted_as_written(tmp_path):
    path = tmp_path / "elig.toml"
    path.write_text(example_eligibility_text(), encoding="utf-8")
    result = run("arm", "build", "--trial", tmp_path / "none", "--eligibility", path, "--source", tmp_path / "none",
                 "--out", tmp_path / "out")
    one_line_error(result, "not found")  # it gets past the spec, to the missing trial
