"""Refactoring the house must not move a single link: whole runs give the outputs they gave before.

The digests below are those of encoding and linking the shared small population under a
fixed key in each scenario. They were computed at a2f9f89, held through the typed spec and
the single link plan (issue #16), and recomputed, deliberately, when term frequencies on
name filters and per-record match probabilities changed the model, and when the NIR's
contradiction level and the summary's warnings came, and when the indirect spec's stays
gained wide-tolerance and establishment-group levels, and when EM stopped fitting sessions
that observe a single comparison (issue #17), and when the simulated world gained
treatment effects, care pathways and costs (issue #23: new death dates and stays), and when
summary.json started recording each side's encoding run id (issue #18; links unchanged). A change
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
    "direct/grey_zone": "eb5d264981cf4016cbee6ed62179203fa23b57e827dbcb824ff9e28c07e2f715",
    "direct/links": "972a9f02539014e3c24415bc9f29a692a3b7f1f3d3baeebea07430514ebffd1f",
    "direct/model.json": "483207fe11648d3b0612674a5724648bb78ad3bde739bbb2e462bf70836b1b83",
    "direct/snds.encoded": "9dee428d01da30e8ef513ebe5b5bed23c4a26d87550fbc0f9c256354fd6847b8",
    "direct/summary.json": "7f69e4c4e6a61a7a57566975e5023a640921b29fba7f048e29b160608561b5e9",
    "indirect/cohort.encoded": "687e80b7106da92018b49f7842f39e8cbc33958c271211c2abde5d4eb16639b7",
    "indirect/grey_zone": "7e1ad891fa7f0b8b3945f3bc00a08c7d094fb264dd226e71d2600107f45f9445",
    "indirect/links": "26020bac96074049234352d8d52d0f06df0f210129e7bd26eb44d2260fad135a",
    "indirect/model.json": "2fc43019df59ac3e4e633ecf51ce7bda1165369bca4de676349a069187f915d2",
    "indirect/snds.encoded": "eac9f1e827df01869662ad5f903e4c66bed2ceeb8fe3a6e1740cbe1fc12f9a47",
    "indirect/summary.json": "46956fa5dc8c163d2ae2ecf455eb29312543e97dd27fdf91afcb1eb5e1e7c36b",
    "names/cohort.encoded": "663d2d9fb91f66303aa8b2708b328f298f4ec1201415d128d980a5a7bfef394c",
    "names/grey_zone": "ca29152a092836e66cf13473b3253d61db958b7dc6965f83ea3c38346957ea05",
    "names/links": "c008df9c12453ed576240c0e61ad65a7c76b2defc6ef3662dcc0f1960f28677a",
    "names/model.json": "3856aa87e70c9d1d671f6acf33ef0b7352633dcb46825024de10a22df24877ce",
    "names/snds.encoded": "0c8590c50115bc57dc77b5509f32d6539e26d8e7875137200d6f50f945552888",
    "names/summary.json": "0173f2064ee6938dfde00644235193bb07c78a727aaa22e3975dc146d0d5447b",
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
