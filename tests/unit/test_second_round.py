"""The second round: given names of the undecided pairs, encoded under per-pair keys."""

import json
from dataclasses import replace

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from harmonie.cli import app
from harmonie.errors import HarmonieError
from linkage.encoding import encode_holder, write_encoded
from linkage.encoding.pair_names import PAIR_BLOOM, PairAnswer, PairNameEncoder, PairQuery, encode_pairs
from linkage.evaluate import quality, truth_pairs
from linkage.second_round import FirstRound, GivenNameModel, first_round, resolve
from linkage.spec import example_spec, example_spec_text
from privacy.audit.pair_attack import auc
from privacy.bloom import dice
from privacy.keys import LinkageKey, save_key

KEY = LinkageKey(bytes(range(32)))
OTHER_KEY = LinkageKey(bytes(range(1, 33)))
PASS = "second round test passphrase"
ROLES = {"cohort": ("cohort_patients", "left_id"), "snds": ("snds_beneficiaries", "right_id")}


def _ids(rng, n):
    return [bytes(rng.integers(0, 256, 10, dtype=np.uint8)).hex() for _ in range(n)]


def _bits(encoded: bytes) -> np.ndarray:
    return np.frombuffer(encoded, dtype=np.uint8)


def test_one_name_in_two_pairs_gives_unrelated_filters_while_both_holders_agree_on_a_pair():
    rng = np.random.default_rng(0)
    left, right = _ids(rng, 120), _ids(rng, 120)
    cohort_side, snds_side = PairNameEncoder(KEY, "p"), PairNameEncoder(KEY, "p")  # two holders, one secret
    marie = [_bits(cohort_side.encode_pair(a, b, ["MARIE"])[0]) for a, b in zip(left, right)]
    # the other holder, same pair, same name: the same filter; a typo: close, not equal
    assert all(dice(marie[k], _bits(snds_side.encode_pair(left[k], right[k], ["MARIE"])[0])) == 1.0
               for k in range(10))
    assert 0.75 < dice(marie[0], _bits(snds_side.encode_pair(left[0], right[0], ["MARIA"])[0])) < 0.95
    # every filter has exactly half of its bits set, whatever the name's length
    assert {int(np.unpackbits(f).sum()) for f in marie} == {PAIR_BLOOM.bits}
    assert np.unpackbits(_bits(cohort_side.encode_pair(left[0], right[0], ["MARIECLAIREANNE"])[0])).sum() == \
        PAIR_BLOOM.bits
    # across pairs, MARIE is as unlike MARIE as she is unlike JEAN: chance (0.5)
    jean = [_bits(cohort_side.encode_pair(a, b, ["JEAN"])[0]) for a, b in zip(left, right)]
    same = np.array([dice(marie[i], marie[j]) for i in range(60) for j in range(60, 120)])
    other = np.array([dice(marie[i], jean[j]) for i in range(60) for j in range(60, 120)])
    assert len({f.tobytes() for f in marie}) == len(marie)
    assert abs(same.mean() - 0.5) < 0.01 and abs(other.mean() - 0.5) < 0.01
    assert 0.45 < auc(same, other) < 0.55 and same.max() < 0.6
    # another secret or another project: unrelated filters for the very same pair
    for encoder in (PairNameEncoder(OTHER_KEY, "p"), PairNameEncoder(KEY, "q")):
        assert dice(marie[0], _bits(encoder.encode_pair(left[0], right[0], ["MARIE"])[0])) < 0.6
    assert cohort_side.encode_pair(left[0], right[0], [None, ""]) == [None, None]


def test_the_given_name_model_learns_m_and_u_from_priors_and_at_most_one_match_per_record():
    rng = np.random.default_rng(1)
    m, u = np.array([0.85, 0.1, 0.05]), np.array([0.1, 0.1, 0.8])
    groups, levels, prior = [], [], []
    for record in range(3000):  # two namesakes of one record, one of them its match (or neither: 10%)
        match = rng.integers(0, 2) if rng.random() < 0.9 else -1
        for j in range(2):
            groups.append(record)
            prior.append(0.45)
            levels.append(rng.choice(3, p=m if j == match else u))
    model = GivenNameModel(("agree", "close", "disagree")).fit(np.array(levels), np.array(prior), np.array(groups))
    assert model.converged_
    assert model.m_ == pytest.approx(m, abs=0.04) and model.u_ == pytest.approx(u, abs=0.04)
    assert model.weights(np.array([0, 2, -1])).tolist() == pytest.approx(
        [np.log2(model.m_[0] / model.u_[0]), np.log2(model.m_[2] / model.u_[2]), 0.0])


@pytest.fixture(scope="module")
def round_one(tmp_path_factory, population):
    """The small population encoded under the names spec, its first round and the query (files as the CLI
    writes them)."""
    out = tmp_path_factory.mktemp("second_round")
    spec = example_spec("names")
    (out / "spec.toml").write_text(example_spec_text("names"))
    for role, (table, _) in ROLES.items():
        result = encode_holder(spec, KEY, role, population.tables[table])
        write_encoded(result.encoded, result.metadata, out / f"{role}.encoded.parquet")
        pq.write_table(result.crosswalk.replace_schema_metadata(
            {"harmonie.key_fingerprint": KEY.fingerprint, "harmonie.holder": role}), out / f"{role}.crosswalk.parquet")
        pq.write_table(population.tables[table], out / f"{table}.parquet")
    state, summary = first_round(spec, out / "cohort.encoded.parquet", out / "snds.encoded.parquet")
    state.save(out / "first_round.parquet")
    state.query.save(out / "query.parquet")
    save_key(KEY, out / "k.key", PASS, scrypt_n=2**12)
    save_key(OTHER_KEY, out / "other.key", PASS, scrypt_n=2**12)
    return out, state


def _answers(out, population, query, key=KEY):
    crosswalks = {role: pq.read_table(out / f"{role}.crosswalk.parquet") for role in ROLES}
    if key is not KEY:  # a holder of another secret has its own crosswalk (same ids here)
        crosswalks = {role: table.replace_schema_metadata(None) for role, table in crosswalks.items()}
    return [encode_pairs(example_spec("names"), key, role, population.tables[table], crosswalks[role], query)
            for role, (table, _) in ROLES.items()]


def test_the_second_round_fixes_namesakes_and_false_links_on_a_small_population(round_one, population):
    out, state = round_one
    query = PairQuery.load(out / "query.parquet")
    assert 0 < len(query) < state.pairs.num_rows and set(query.table().column_names) == {"left_id", "right_id"}
    answers = _answers(out, population, query)
    for answer in answers:
        answer.save(out / f"answer_{answer.holder}.parquet")
    result = resolve(example_spec("names"), FirstRound.load(out / "first_round.parquet"),
                     [PairAnswer.load(out / "answer_snds.parquet"), PairAnswer.load(out / "answer_cohort.parquet")])
    truth = truth_pairs(population["truth"], pq.read_table(out / "cohort.crosswalk.parquet").to_pandas(),
                        pq.read_table(out / "snds.crosswalk.parquet").to_pandas(), population["snds_duplicates"])
    first = state.pairs.filter(state.pairs["linked_first_round"]).select(["left_id", "right_id"]).to_pandas()
    before, after = quality(first, truth), quality(result.links.to_pandas(), truth)
    assert after["f1"] > before["f1"] and after["false_positives"] < before["false_positives"], (before, after)
    links = result.links.to_pandas()
    assert links.left_id.is_unique and links.right_id.is_unique and "level_given_names" in links
    model = {level["label"]: level["weight"] for level in result.summary["second_round"]["model"]["levels"]}
    assert model["all given names identical"] > 1 and model["Dice < 0.7"] < -2
    assert result.summary["second_round"]["queried_pairs"] == len(query)


def test_a_query_with_unknown_ids_or_beyond_the_caps_is_refused_in_one_line(round_one, tmp_path):
    out, state = round_one
    query = PairQuery.load(out / "query.parquet")
    runner, cli = CliRunner(), app()

    def answer(query_path, *extra, key="k.key"):
        (tmp_path / "answer.parquet").unlink(missing_ok=True)  # each query answered afresh (no --overwrite)
        return runner.invoke(cli, ["--quiet", "encode-pairs", "--spec", str(out / "spec.toml"),
                                   "--key", str(out / key), "--in", str(out / "cohort_patients.parquet"),
                                   "--crosswalk", str(out / "cohort.crosswalk.parquet"), "--query", str(query_path),
                                   "--out", str(tmp_path / "answer.parquet"), *extra],
                             env={"HARMONIE_KEY_PASSPHRASE": PASS})

    result = answer(out / "query.parquet")
    assert result.exit_code == 0, result.output
    assert f"{len(query):,} pairs answered" in result.output

    pairs = sorted([("f" * 20, query.right_ids[0]), *zip(query.left_ids[1:], query.right_ids[1:])])
    stranger = replace(query, left_ids=[a for a, _ in pairs], right_ids=[b for _, b in pairs])
    stranger.save(tmp_path / "stranger.parquet")
    result = answer(tmp_path / "stranger.parquet")
    assert result.exit_code == 2 and "not in this crosswalk" in result.output
    assert result.output.count("\n") == 1 and "f" * 20 not in result.output

    result = answer(out / "query.parquet", key="other.key")
    assert result.exit_code == 2 and "another key" in result.output and result.output.count("\n") == 1

    # one cohort record against many SNDS records: refused (a linkage unit clustering records by name)
    left = query.left_ids[0]
    greedy = PairQuery([left] * 12, sorted(f"{k:020x}" for k in range(12)), query.spec_name, query.spec_hash,
                       query.key_fingerprint, query.left_holder, query.right_holder)
    greedy.save(tmp_path / "greedy.parquet")
    result = answer(tmp_path / "greedy.parquet")
    assert result.exit_code == 2 and "--max-pairs-per-record" in result.output
    result = answer(tmp_path / "greedy.parquet", "--max-pairs-per-record", "20")
    assert result.exit_code == 2 and "--max-group" in result.output

    result = answer(out / "cohort.encoded.parquet")
    assert result.exit_code == 2 and "not a second-round query file" in result.output


def test_an_answer_from_another_key_or_to_another_query_is_refused_in_one_line(round_one, population, tmp_path):
    out, state = round_one
    query = PairQuery.load(out / "query.parquet")
    good = _answers(out, population, query)
    # a holder with another secret answering (the query re-labelled with its fingerprint)
    forged = _answers(out, population, replace(query, key_fingerprint=OTHER_KEY.fingerprint), key=OTHER_KEY)
    smaller = replace(query, left_ids=query.left_ids[1:], right_ids=query.right_ids[1:])
    runner, cli = CliRunner(), app()
    cases = {"another key": [good[0], forged[1]],
             "another query": [good[0], _answers(out, population, smaller)[1]],
             "no answer from holder 'snds'": [good[0], good[0]]}
    for expected, (left, right) in cases.items():
        left.save(tmp_path / "a.parquet")
        right.save(tmp_path / "b.parquet")
        result = runner.invoke(cli, ["--quiet", "resolve", "--spec", str(out / "spec.toml"),
                                     "--first-round", str(out / "first_round.parquet"),
                                     "--given-names", str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet"),
                                     "--out", str(tmp_path / "run")])
        assert result.exit_code == 2 and expected in result.output, result.output
        assert result.output.count("\n") == 1
    result = runner.invoke(cli, ["--quiet", "resolve", "--spec", str(out / "spec.toml"),
                                 "--first-round", str(out / "first_round.parquet"),
                                 "--given-names", str(out / "query.parquet"), str(tmp_path / "b.parquet"),
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "not a second-round answer file" in result.output
    # the other holder's answer cannot pose as this one's: rows must be the query's, in its order
    shuffled = PairAnswer(good[1].table.take(pa.array(np.arange(len(query))[::-1])), good[1].metadata)
    with pytest.raises(HarmonieError, match="does not list the query's pairs"):
        resolve(example_spec("names"), state, [good[0], shuffled])


def test_the_cli_runs_both_rounds_end_to_end(round_one, tmp_path):
    out, state = round_one
    runner, cli = CliRunner(), app()
    env = {"HARMONIE_KEY_PASSPHRASE": PASS}
    result = runner.invoke(cli, ["--quiet", "query-pairs", "--spec", str(out / "spec.toml"),
                                 "--left", str(out / "cohort.encoded.parquet"),
                                 "--right", str(out / "snds.encoded.parquet"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert pq.read_table(tmp_path / "query.parquet").num_rows == len(state.query)
    for role, (table, _) in ROLES.items():
        result = runner.invoke(cli, ["--quiet", "encode-pairs", "--spec", str(out / "spec.toml"),
                                     "--key", str(out / "k.key"), "--in", str(out / f"{table}.parquet"),
                                     "--crosswalk", str(out / f"{role}.crosswalk.parquet"),
                                     "--query", str(tmp_path / "query.parquet"),
                                     "--out", str(tmp_path / f"{role}.answer.parquet")], env=env)
        assert result.exit_code == 0, result.output
        answer = pq.read_table(tmp_path / f"{role}.answer.parquet")
        assert answer.column_names == ["left_id", "right_id", "first_name", "given_names"]
        document = json.loads(answer.schema.metadata[b"harmonie"])
        assert document["key_fingerprint"] == KEY.fingerprint and document["holder"] == role
    result = runner.invoke(cli, ["--quiet", "resolve", "--spec", str(out / "spec.toml"),
                                 "--first-round", str(tmp_path / "first_round.parquet"),
                                 "--given-names", str(tmp_path / "cohort.answer.parquet"),
                                 str(tmp_path / "snds.answer.parquet"), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert "links at match probability" in result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["links"] == pq.read_table(tmp_path / "run" / "links.parquet").num_rows
    assert "estimated" in summary and (tmp_path / "run" / "given_names_model.json").exists()


def test_no_given_name_or_local_id_reaches_the_query_the_answers_or_the_state(round_one, population, tmp_path):
    from linkage.normalise.names import given_names

    out, state = round_one
    query = PairQuery.load(out / "query.parquet")
    files = {"query": query.table(), "first_round": state.pairs}
    files.update({answer.holder: answer.table for answer in _answers(out, population, query)})
    plaintexts = set()
    for table, id_column in (("cohort_patients", "cohort_id"), ("snds_beneficiaries", "snds_id")):
        frame = population[table]
        for raw in frame["first_names"].dropna().unique():
            plaintexts |= {raw, *(given_names(raw) or ())}
        plaintexts |= set(frame[id_column].astype(str))
    plaintexts = {p.encode("utf-8") for p in plaintexts if len(p) >= 5}
    for name, table in files.items():
        pq.write_table(table, tmp_path / f"{name}.parquet", compression="none")
        blob = (tmp_path / f"{name}.parquet").read_bytes()
        windows = {blob[i:i + 5] for i in range(len(blob) - 4)}
        leaked = [p for p in plaintexts if p[:5] in windows and p in blob]
        assert not leaked, f"{name}: {len(leaked)} plaintext values found"
