"""Linkage specs: the shipped examples, the hash, and clear errors for bad specs."""

import pytest
from click.testing import CliRunner

from harmonie.cli import app
from linkage.spec import EXAMPLES, SpecError, example_spec, example_spec_text, load_spec, parse_spec

MINIMAL = """
format_version = 1
name = "mini"
[project]
id = "p"
[holders.a]
id = "a_id"
[holders.b]
id = "b_id"
[[fields]]
name = "sex"
normalise = "sex"
encoding = "token"
"""


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_specs_parse_and_name_their_scenario(name):
    spec = example_spec(name)
    assert spec.name == name and set(spec.holders) == {"cohort", "snds"}
    assert spec.comparisons and spec.blocking


def test_indirect_example_encodes_no_name_and_no_nir():
    spec = example_spec("indirect")
    assert {f.normalise for f in spec.fields}.isdisjoint({"nir", "foin", "surname", "birth_name", "use_name",
                                                          "first_name", "given_names"})
    assert "stays" in spec.encoded_columns("snds") and "stays__near" not in spec.encoded_columns("snds")
    assert "stays__near" in spec.encoded_columns("cohort")


@pytest.mark.parametrize("name", ["names", "direct"])
def test_shipped_specs_fold_name_filters_and_encode_no_given_name(name):
    """The attack self-audit's default: folded surnames, and no given-name field at all."""
    spec = example_spec(name)
    blooms = [f for f in spec.fields if f.encoding == "bloom"]
    assert blooms and all(f.bloom.xor_fold for f in blooms)
    assert {f.normalise for f in spec.fields}.isdisjoint({"first_name", "given_names"})


def test_the_names_given_name_opt_in_switches_on_into_a_valid_spec():
    from linkage.spec import with_given_names

    spec = parse_spec(with_given_names(example_spec_text("names")))
    assert {"first_name", "given_names"} <= {f.name for f in spec.fields}
    assert spec.field("first_name").key_name == spec.field("birth_name").key_name == "names"
    assert spec.field("first_name").bloom.xor_fold
    birth = next(c for c in spec.comparisons if c.field == "birth_name")
    assert birth.swapped_with == "first_name"
    assert any(getattr(b, "lsh", None) == "first_name" for b in spec.blocking)
    with pytest.raises(SpecError, match="no commented given-name block"):
        with_given_names(example_spec_text("indirect"))


def test_spec_example_with_given_names_from_the_command_line(tmp_path):
    runner = CliRunner()
    out = tmp_path / "names.toml"
    result = runner.invoke(app(), ["spec", "example", "names", "--with-given-names", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "first_name" in load_spec(out).encoded_columns()
    refused = runner.invoke(app(), ["spec", "example", "direct", "--with-given-names"])
    assert refused.exit_code == 2 and "names example only" in refused.output


def test_the_hash_ignores_formatting_but_not_content():
    base = parse_spec(MINIMAL)
    reformatted = parse_spec("# a comment\n" + MINIMAL.replace('name = "sex"', 'name    =   "sex"  # the sex'))
    assert base.hash == reformatted.hash
    assert parse_spec(MINIMAL.replace('id = "p"', 'id = "q"')).hash != base.hash
    assert len({example_spec(n).hash for n in EXAMPLES}) == 3


@pytest.mark.parametrize("change, message", [
    (("encoding = \"token\"", "encoding = \"token\"\ncolour = \"blue\""), "unknown key 'colour'"),
    (("format_version = 1", "format_version = 2"), "format_version must be 1"),
    (("encoding = \"token\"", "encoding = \"magic\""), "encoding must be one of"),
    (("normalise = \"sex\"", "normalise = \"horoscope\""), "normalise must be one of"),
    (("encoding = \"token\"", "encoding = \"date\""), "encoding 'date' goes with normaliser 'date'"),
    (("encoding = \"token\"", "encoding = \"token\"\nhashes = 20"), "applies to bloom fields only"),
    (("[holders.b]\nid = \"b_id\"", ""), "exactly two holders"),
    (("name = \"sex\"", "name = \"a__b\""), "without '__'"),
    (("[project]\nid = \"p\"", "[project]"), "needs 'id'"),
    (("encoding = \"token\"", "encoding = \"token\"\n[[fields]]\nname = \"stays\"\nencoding = \"events\""),
     "declares no events table"),
    (("encoding = \"token\"", "encoding = \"token\"\n[[comparisons]]\nfield = \"age\"\nkind = \"token\""),
     "unknown field 'age'"),
    (("encoding = \"token\"", "encoding = \"token\"\n[[blocking]]\nname = \"x\"\nkeys = [\"sex\"]\nlsh = \"sex\""),
     "'lsh' needs bloom fields"),
    (("encoding = \"token\"", "encoding = \"token\"\n[[blocking]]\nname = \"x\"\nrows = 8"), "exactly one of"),
    (("name = \"mini\"", "name = \"mini\"\n[oops"), "not valid TOML"),
])
def test_bad_specs_are_one_line_errors(change, message):
    with pytest.raises(SpecError, match=message) as raised:
        parse_spec(MINIMAL.replace(*change))
    assert "\n" not in str(raised.value)


def test_cli_prints_examples_and_checks_specs(tmp_path):
    cli, runner = app(), CliRunner()
    result = runner.invoke(cli, ["spec", "example", "indirect"])
    assert result.exit_code == 0 and result.output == example_spec_text("indirect")
    runner.invoke(cli, ["spec", "example", "names", "--out", str(tmp_path / "s.toml")])
    checked = runner.invoke(cli, ["spec", "check", str(tmp_path / "s.toml")])
    assert checked.exit_code == 0 and example_spec("names").hash in checked.output
    (tmp_path / "bad.toml").write_text(MINIMAL.replace("token", "tokn"))
    bad = runner.invoke(cli, ["spec", "check", str(tmp_path / "bad.toml")])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and bad.output.count("\n") == 1
    assert runner.invoke(cli, ["spec", "example", "nope"]).exit_code == 2
