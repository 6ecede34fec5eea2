"""Refactoring the house must not move a single link: whole runs give the outputs they gave before.

The digests below are those of encoding and linking the shared small population under a
fixed key in each scenario. They were computed at a2f9f89, held through the typed spec and
the single link plan (issue #16), and recomputed, deliberately, when term frequencies on
name filters and per-record match probabilities changed the model, and when the NIR's
contradiction level and the summary's warnings came, and when the indirect spec's stays
gained wide-tolerance and establishment-group levels, and when EM stopped fitting sessions
that observe a single comparison (issue #17), and when the simulated world gained
treatment effects, care pathways and costs (issue #23: new death dates and stays), and when
summary.json started recording each side's encoding run id (issue #18; links unchanged), and when
links and grey zone gained readable level labels beside the integers, the stays levels their true
names ('5-7 shared', not '5 shared'), model.json and summary.json each EM session's own m and
summary.json the grey zone's bounds (issue #21; links, weights and encodings unchanged). A change
that alters any of them changes behaviour: if that is intended, say so in its commit and
recompute them there (the encoded files' digests must then still be unchanged unless the
encoding changed too).
"""

import hashlib

import pytest

from linkage.encoding import encode_holder, write_encoded
from linkage.link import link, write_link_outputs
from linkage.spec import example_spec
from privacy.keys import LinkageKey

KEY = LinkageKey(bytes(range(32)))
BEFORE = {
    "direct/cohort.encoded": "0090dde4485ff701c3854863ea6d07a786a86cd24d3fa61d470f22b5f77311f4",
    "direct/grey_zone": "631eb885c40194d4fa74a8be3f8715edac31875b9436a1ba19bf62e769ca896d",
    "direct/links": "8a78095e1fe4dc9b8095b716f130dd5385050f2649cba4ab49abc0426c919a93",
    "direct/model.json": "8b0cb9dee9574d0927ada07d7400d8117a36082ea096332a399b7c72a03bf979",
    "direct/snds.encoded": "9dee428d01da30e8ef513ebe5b5bed23c4a26d87550fbc0f9c256354fd6847b8",
    "direct/summary.json": "412674ce5a49323f9fff63597d0e490ea4dadf1a0c6780998551c0a3c4d349bd",
    "indirect/cohort.encoded": "687e80b7106da92018b49f7842f39e8cbc33958c271211c2abde5d4eb16639b7",
    "indirect/grey_zone": "dbb7868b0b7ec52dbd83737bfdaad7d2908589ba7d221cf9103468b509e97ede",
    "indirect/links": "39bb978d5f89a8862cbf162e6fb66638a547e93427224c8fafe6d20cab31d5a2",
    "indirect/model.json": "e8c99dc7118530745ebbf2726467c651ea224339e21cb36718d363e5dfd3fdd7",
    "indirect/snds.encoded": "eac9f1e827df01869662ad5f903e4c66bed2ceeb8fe3a6e1740cbe1fc12f9a47",
    "indirect/summary.json": "eeacfe1ff7b4ffc6778ca23331ab6e539d487e35beb39544d1eacb4985dc0fd7",
    "names/cohort.encoded": "663d2d9fb91f66303aa8b2708b328f298f4ec1201415d128d980a5a7bfef394c",
    "names/grey_zone": "89a5113217f7af7f6e76f81ff7b6f92e47af70952ba8d8d0606fbda7a8cfbf55",
    "names/links": "b708efbdabb0806484caa44d5997fa9c23ed882491f6230c2f3eef97d76bd5f0",
    "names/model.json": "cf4ff3cb2ce6cf0dbdadb9c897f1820a358f33d5bc8e6fe946535269f613cf42",
    "names/snds.encoded": "0c8590c50115bc57dc77b5509f32d6539e26d8e7875137200d6f50f945552888",
    "names/summary.json": "70da0a6ed4135c868825b0832ecbff243970f9d2c24baf11cdf79171a209a626",
}


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["direct", "names", "indirect"])
def test_a_whole_run_gives_the_outputs_it_gave_before_the_refactoring(name, population, tmp_path):
    spec = example_spec(name)
    got = {}
    for role, table, stays in (("cohort", "cohort_patients", "cohort_stays"),
                               ("snds", "snds_beneficiaries", "snds_stays")):
        encoded = encode_holder(spec, KEY, role, population.tables[table], population.tables[stays])
        write_encoded(encoded.encoded, encoded.metadata, tmp_path / f"{role}.parquet")
        got[f"{name}/{role}.encoded"] = _digest(encoded.encoded.to_pandas().to_csv().encode())
    result = link(spec, tmp_path / "cohort.parquet", tmp_path / "snds.parquet")
    write_link_outputs(result, tmp_path / "run", charts=False)
    for table in ("links", "grey_zone"):
        got[f"{name}/{table}"] = _digest(getattr(result, table).to_pandas().to_csv(float_format="%.12g").encode())
    for file in ("model.json", "summary.json"):
        got[f"{name}/{file}"] = _digest((tmp_path / "run" / file).read_bytes())
    assert got == {k: v for k, v in BEFORE.items() if k.startswith(f"{name}/")}
