"""Refactoring the house must not move a single link: whole runs give the outputs they gave before.

The digests below were computed at commit a2f9f89, before the spec became typed objects and
the two engines one plan (issue #16), by encoding and linking the shared small population
under a fixed key in each scenario. A change that alters any of them changes behaviour: if
that is intended (a better model), say so in its commit and recompute them there.
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
    "direct/grey_zone": "f5baa4ec03b6eb2c53f92d8c9a7c9833fad010a2f090bebceb98aa53f4ce712a",
    "direct/links": "116a4b1368cffcabc683c96d5244fe1a5cbc32419e3f6a5c8c1a986abb080bf1",
    "direct/model.json": "9ea1ed17ab486de1b86b32d2606c8f8477b03a848b7827000e2262502e448d9c",
    "direct/snds.encoded": "c8a5f2e21ffd30ea4b0dbabb37adab962b4324ff0060ecc2d486ad3f5f4125c3",
    "direct/summary.json": "df892a340e0697473aeecab806982dac180cb8e9c854293145847d6d99030cfe",
    "indirect/cohort.encoded": "7df17c373ef18b9108d9a288505e8f697a5a8eb24cb23138cb3aa6f11baf0ea2",
    "indirect/grey_zone": "6629279f3c321afe71f41a4ca87d8e0dc7c428deb0bebc76da0deafea851b5e4",
    "indirect/links": "3a10541ce8009a3b3442a14030f0b3c6afef3ee4bdb0129ac2e1296331d502c0",
    "indirect/model.json": "850b954c67dfdba01bf4d324cd49d2513cf95c54f9533bd133ad622ed521a140",
    "indirect/snds.encoded": "71114b62c46b466d645b021dcc06df2d4bc42827113dc2d9224d14dc05d25eff",
    "indirect/summary.json": "4eb481c8e1d33e0098b78cbce8a16cf7864fd5cd3f23268e39ca04ccbe96ff04",
    "names/cohort.encoded": "663d2d9fb91f66303aa8b2708b328f298f4ec1201415d128d980a5a7bfef394c",
    "names/grey_zone": "0a8ef18a8051409e9ea3d860f906c687bc34dd9b31e85f91a87c8fd7ec799300",
    "names/links": "a80ac128901bfac603a5139cc1a4139841003105c1a3dd02c65923bbc27976dc",
    "names/model.json": "c2736a121a5a8d07a32e607a266d54408db90e45fe34e779fdc71c645786413c",
    "names/snds.encoded": "9d9fc7fd7390923894611f77361fa418371c069fc521634750e88ff905bb77e7",
    "names/summary.json": "5fdab0377e4b10a04573022e5688707b0d6582d302d21e8b04c3db578d62144e",
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
