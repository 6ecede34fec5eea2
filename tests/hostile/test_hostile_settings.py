"""Hostile settings files: model.json, the linkage spec, the release policy. Every entry is checked, with
its type and range, before any work: one line naming the file and the entry."""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harmonie.errors import HarmonieError
from hostile.hostile_helpers import one_line_error, run
from linkage.model import load_model
from linkage.spec import example_spec_text, parse_spec
from privacy.release.policy import load_policy

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _level(document, name, value, comparison=0, level=0):
    document["comparisons"][comparison]["levels"][level][name] = value


MODEL_CASES = {
    "prior_lambda = -3": (lambda d: d.__setitem__("prior_lambda", -3), "prior_lambda"),
    "prior_lambda = 1": (lambda d: d.__setitem__("prior_lambda", 1.0), "prior_lambda"),
    "prior_lambda a string": (lambda d: d.__setitem__("prior_lambda", "x"), "prior_lambda"),
    "m = NaN": (lambda d: _level(d, "m", math.nan), "has m outside"),
    "m negative": (lambda d: _level(d, "m", -0.5), "has m outside"),
    "m = 5 and u = 0": (lambda d: (_level(d, "m", 5), _level(d, "u", 0)), "outside"),
    "u = 0": (lambda d: _level(d, "u", 0.0), "infinite"),
    "m not summing to 1": (lambda d: (_level(d, "m", 0.0), _level(d, "m", 0.0, level=1)), "sum to"),
    "levels a string": (lambda d: d["comparisons"][0].__setitem__("levels", "x"), "levels"),
    "comparisons an object": (lambda d: d.__setitem__("comparisons", {}), "comparisons"),
    "no em": (lambda d: d.pop("em"), "em"),
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_out_of_range_model_json_is_one_line_naming_the_entry(world, tmp_path, case):
    change, mention = MODEL_CASES[case]
    document = json.loads((world.run_dir / "model.json").read_text())
    change(document)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    one_line_error(run(*world.link_args(None, None, None, "--model", path)), str(path), mention)


@pytest.mark.parametrize("text", ["[1, 2]", "42", "null", "{", "\xff", "[" * 100_000 + "]" * 100_000])
def test_a_model_json_that_is_not_an_object_is_one_line(tmp_path, text):
    path = tmp_path / "model.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(HarmonieError, match="not a"):
        load_model(path)


@FAST
@given(where=st.sampled_from(["prior_lambda", "m", "u", "label", "iterations"]),
       value=st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.lists(st.integers()))
def test_any_model_value_loads_a_usable_model_or_fails_with_one_line(world, tmp_path_factory, where, value):
    document = json.loads((world.run_dir / "model.json").read_text())
    if where == "prior_lambda":
        document["prior_lambda"] = value
    elif where == "iterations":
        document["em"]["iterations"] = value
    else:
        _level(document, where, value)
    path = tmp_path_factory.mktemp("model") / "model.json"
    path.write_text(json.dumps(document))
    try:
        model = load_model(path)
    except HarmonieError as exc:
        assert "\n" not in str(exc)
    else:  # accepted: every weight finite, the prior a probability
        assert 0 < model.lambda_ < 1
        with __import__("numpy").errstate(divide="ignore"):
            for m, u in zip(model.m_, model.u_):
                assert (u > 0).all() and (m >= 0).all() and (m <= 1).all()


SPEC = example_spec_text("indirect")
SPEC_CASES = {
    "u_sample_pairs = -1": (re.sub(r"(?m)^u_sample_pairs = .*$", "u_sample_pairs = -1", SPEC), "u_sample_pairs"),
    "u_sample_pairs = 'lots'": (re.sub(r"(?m)^u_sample_pairs = .*$", "u_sample_pairs = 'lots'", SPEC),
                                "u_sample_pairs"),
    "u_sample_pairs = 10^13": (re.sub(r"(?m)^u_sample_pairs = .*$", "u_sample_pairs = 10000000000000", SPEC),
                               "50,000,000"),
    "seed = -5": (re.sub(r"(?m)^seed = .*$", "seed = -5", SPEC), "seed"),
    "empty project id": (re.sub(r'(?m)^id = ".*"', 'id = ""', SPEC, count=1), "[project] id"),
    "blank project id": (re.sub(r'(?m)^id = ".*"', 'id = "   "', SPEC, count=1), "[project] id"),
    "100,000-deep array": (SPEC + "x = " + "[" * 100_000 + "]" * 100_000 + "\n", "too deeply"),
    "100,000-deep table": (SPEC + "y = " + "{a=" * 100_000 + "1" + "}" * 100_000 + "\n", "too deeply"),
    "20-deep but parseable": (SPEC + "z = " + "[" * 20 + "]" * 20 + "\n", "too deeply"),
    "5,000 fields": (SPEC + "".join(f'[[fields]]\nname = "f{i}"\nencoding = "token"\nnormalise = "sex"\n'
                                    for i in range(5000)), "at most 64"),
    "a 2 MB spec": (SPEC + "# " + "x" * 2_000_000 + "\n", "MiB"),
}


@pytest.mark.parametrize("case", list(SPEC_CASES))
def test_hostile_spec_is_one_line_naming_the_file(world, tmp_path, case):
    text, mention = SPEC_CASES[case]
    path = tmp_path / "spec.toml"
    path.write_text(text)
    one_line_error(run("spec", "check", path), str(path), mention)


def test_a_spec_that_is_not_utf8_names_its_line(tmp_path, world):
    path = tmp_path / "spec.toml"
    path.write_bytes(SPEC.encode() + b"# \xff\xfe\n")
    one_line_error(run(*world.link_args(spec=path)), str(path), "line", "UTF-8")


@FAST
@given(key=st.sampled_from(["u_sample_pairs", "seed", "em_max_iterations", "em_tolerance", "threshold",
                            "em_max_pairs_per_record", "expected_match_share"]),
       value=st.integers(-10**20, 10**20) | st.floats() | st.booleans() | st.text(max_size=4))
def test_any_model_setting_parses_in_range_or_fails_with_one_line(key, value):
    rendered = json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else \
        ("nan" if math.isnan(value) else "inf" if value > 0 else "-inf")
    text = re.sub(r"(?m)^\[model\]$", lambda _: f"[model]\n{key} = {rendered}", re.sub(rf"(?m)^{key} = .*$", "", SPEC))
    try:
        spec = parse_spec(text, "s.toml")
    except HarmonieError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("s.toml")
    else:
        settings_ = spec.model
        assert 1_000 <= settings_.u_sample_pairs <= 50_000_000 and 0 <= settings_.seed < 2**32
        assert settings_.threshold is None or 0 < settings_.threshold < 1


POLICY_CASES = {
    "n_attacks = 0": ("[measurement]\nn_attacks = 0\n", "n_attacks"),
    "max_rows = 0": ("[measurement]\nmax_rows = 0\n", "max_rows"),
    "attack_targets = 0": ("[measurement]\nattack_targets = 0\n", "attack_targets"),
    "min_patients = 0": ("[measurement]\nmin_patients = 0\n", "min_patients"),
    "min_cell = 0": ("[disclosure]\nmin_cell = 0\n", "min_cell"),
    "a risk above 1": ("[anonymeter]\nsingling_out = 2.0\n", "between 0 and 1"),
    "an AUC below chance": ("[membership]\ncell_frequency_auc = 0.2\n", "cell_frequency_auc"),
    "AUC = nan": ("[membership]\ncell_frequency_auc = nan\n", "finite"),
    "deeply nested": ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "too deeply"),
    "not UTF-8": (b"[measurement]\n# \xff\n", "UTF-8"),
}


@pytest.mark.parametrize("case", list(POLICY_CASES))
def test_hostile_policy_is_one_line_before_any_data_is_read(tmp_path, case):
    text, mention = POLICY_CASES[case]
    path = tmp_path / "policy.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    missing = tmp_path / "no-such-dataset"  # the policy is checked first: the datasets are never read
    one_line_error(run("risk", "--real", missing, "--synthetic", missing, "--control", missing, "--out",
                       tmp_path / "risk", "--policy", path), str(path), mention)


@FAST
@given(section_key=st.sampled_from([("measurement", "n_attacks"), ("measurement", "max_rows"),
                                    ("anonymeter", "inference"), ("membership", "density_ratio_auc"),
                                    ("copies", "date_tolerance_days"), ("disclosure", "min_cell")]),
       value=st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False))
def test_any_policy_number_is_used_only_in_its_range(tmp_path_factory, section_key, value):
    section, key = section_key
    path = tmp_path_factory.mktemp("policy") / "p.toml"
    path.write_text(f"[{section}]\n{key} = {value!r}\n")
    try:
        policy, _ = load_policy(path)
    except HarmonieError as exc:
        assert "\n" not in str(exc) and key in str(exc)
    else:
        from privacy.release.policy import _RANGES

        low, high = _RANGES[section][key]
        assert low <= policy[section][key] <= high
