"""``harmonie demo``: the whole Harmonie pipeline on embedded default data, parties kept apart.

Stages: simulate a cohort <-> SNDS population -> create the linkage secret -> each holder
encodes its side -> the linkage unit links the encoded files -> the evaluator measures the
links against the simulation's truth -> each holder extracts its linked patients' study
variables -> the data team builds the analytic dataset -> fits a replica model and samples
a replica -> the release gate measures risk and utility and signs a bundle (or refuses) ->
one report. The output folder is laid out by party, so a reader sees who holds what:

    OUT/holder_cohort/   the cohort's plaintext files, its key copy, crosswalk, encoded file, extract
    OUT/holder_snds/     the same for the insurer
    OUT/linkage_unit/    the two encoded files it received, the spec, and the linkage run
    OUT/evaluator/       the simulation's truth and the evaluation of the links
    OUT/data_team/       links, extracts, analytic dataset, replica model, replica, release bundle
    OUT/report.html      one page for a data-team lead
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harmonie.errors import HarmonieError
from harmonie.progress import stage

DEFAULT_SIZES = {"small": (10_000, 150_000), "harmonie": (193_000, 3_000_000), "tiny": (1_500, 20_000)}
SCENARIOS = ("indirect", "names", "direct")
DEMO_PASSPHRASE = "harmonie demo passphrase (not for real data)"
PARTIES = ("holder_cohort", "holder_snds", "linkage_unit", "evaluator", "data_team")
_SIDES = {"cohort": ("cohort_patients", "cohort_stays"), "snds": ("snds_beneficiaries", "snds_stays")}
_HOLDER_ONLY = {"cohort": (), "snds": ("snds_dispensings",)}
_TRUTH_TABLES = ("truth", "hard_cases", "snds_duplicates", "corruptions")
# the pages of a demo link to each other: {folder of a page: {title: path relative to it}}
REPORT_LINKS = {"linkage_unit/run": {"demo report": "../../report.html",
                                     "linkage report with the truth (evaluator)": "../../evaluator/report.html"},
                "evaluator": {"demo report": "../report.html"}}
# what run_demo reports, one line each, numbered [k/N]: the release policy line only without --policy
DEMO_STEPS = 13


_DEMO_KEYS = ("holder_cohort/linkage.key", "holder_snds/linkage.key", "data_team/release_signing.key")


def _prepare(out_dir: Path, overwrite: bool, policy: str | Path | None = None) -> dict[str, Path]:
    """The output policy of every command (:mod:`harmonie.output_set`): OUT absent or empty, or ``overwrite``;
    then the previous demo is removed whole before this one starts (nothing of it remains)."""
    from harmonie.io import ensure_output_dir
    from harmonie.output_set import check_output_folder

    check_output_folder(out_dir, overwrite=overwrite, inputs={"--policy": policy}, own_keys=_DEMO_KEYS)
    if out_dir.exists() and any(out_dir.iterdir()):
        shutil.rmtree(out_dir)
    ensure_output_dir(out_dir)
    return {name: ensure_output_dir(out_dir / name) for name in PARTIES}


def _link_stage(parties: dict, scenario: str, n_cohort: int, n_snds: int, seed: int, report) -> dict:
    """Simulate, key, encode, link, evaluate: the linkage half of the pipeline."""
    import pandas as pd

    from harmonie.io import write_parquet, write_text
    from linkage.datasets import make_population, population_summary
    from linkage.encoding import encode_holder, write_encoded
    from linkage.evaluate import evaluate_links
    from linkage.link import link, write_link_outputs
    from linkage.spec import example_spec, example_spec_text
    from privacy.keys import generate_key, save_key

    with stage(f"simulate {n_cohort:,} cohort patients and {n_snds:,} SNDS beneficiaries"):
        population = make_population(n_cohort, n_snds, seed=seed)
        for role, tables in _SIDES.items():
            population.write(parties[f"holder_{role}"], tables=(*tables, *_HOLDER_ONLY[role]))
        population.write(parties["evaluator"], tables=_TRUTH_TABLES)
    summary = population_summary(population)
    report(f"simulated {n_cohort:,} cohort patients and {n_snds:,} SNDS beneficiaries "
           f"({summary['true_links']:,} true links)")

    passphrase = os.environ.get("HARMONIE_KEY_PASSPHRASE") or DEMO_PASSPHRASE
    key = generate_key()
    spec = example_spec(scenario)
    for role in _SIDES:  # the holders share the secret and the spec; the linkage unit gets the spec only
        save_key(key, parties[f"holder_{role}"] / "linkage.key", passphrase)
        write_text(example_spec_text(scenario), parties[f"holder_{role}"] / "spec.toml")
    write_text(example_spec_text(scenario), parties["linkage_unit"] / "spec.toml")
    report(f"created the linkage secret (fingerprint {key.fingerprint}) and shared it between the two holders")

    for role, (patients, stays) in _SIDES.items():
        holder = parties[f"holder_{role}"]
        with stage(f"holder {role}: encode"):
            # the FINESS -> legal entity map (public; the same at both holders) for specs grouping sites
            finess_map = population.tables["finess_entities"] if any(f.establishment_groups for f in spec.fields) \
                else None
            result = encode_holder(spec, key, role, population.tables[patients], population.tables[stays],
                                   finess_map=finess_map)
            write_encoded(result.encoded, result.metadata, holder / f"{role}.encoded.parquet")
            write_parquet(result.crosswalk, holder / "crosswalk.parquet")
            write_parquet(result.rejects, holder / "rejects.parquet")
        shutil.copy(holder / f"{role}.encoded.parquet", parties["linkage_unit"] / f"{role}.encoded.parquet")
        m = result.metadata
        report(f"holder {role}: encoded {m['rows_encoded']:,} of {m['rows_in']:,} records "
               f"({m['rows_rejected']:,} rejected) with the '{scenario}' spec; sent the encoded file")

    run = parties["linkage_unit"] / "run"
    with stage("linkage unit: link the encoded files"):
        result = link(spec, parties["linkage_unit"] / "cohort.encoded.parquet",
                      parties["linkage_unit"] / "snds.encoded.parquet")
        write_link_outputs(result, run, keep_candidates=True, links_to=REPORT_LINKS["linkage_unit/run"])
    s = result.summary
    report(f"linkage unit: {s['candidate_pairs']:,} candidate pairs, {s.get('links', 0):,} links "
           f"(model's own estimate: precision {s.get('estimated', {}).get('precision', 0):.4f}, "
           f"recall {s.get('estimated', {}).get('recall', 0):.4f})")

    # for measuring quality only, the holders hand their crosswalks to the evaluator
    crosswalks = {}
    for role in _SIDES:
        shutil.copy(parties[f"holder_{role}"] / "crosswalk.parquet", parties["evaluator"] / f"{role}_crosswalk.parquet")
        crosswalks[role] = pd.read_parquet(parties["evaluator"] / f"{role}_crosswalk.parquet")
    evaluation = evaluate_links(
        result.links.to_pandas(), population["truth"], crosswalks["cohort"], crosswalks["snds"],
        population["snds_duplicates"], summary_path=run / "summary.json", out_dir=parties["evaluator"],
        candidates_path=run / "candidates.parquet", hard_cases=population["hard_cases"], run_dir=run,
        links_to=REPORT_LINKS["evaluator"])
    report(f"evaluator: precision {evaluation['precision']:.4f}, recall {evaluation['recall']:.4f}, "
           f"F1 {evaluation['f1']:.4f}; pairs completeness {evaluation['pairs_completeness']:.4f}")
    return {"population": summary, "evaluation": evaluation, "link_summary": s}


def write_demo_policy(path: Path) -> Path:
    """The default release policy with ``decisions.use_upper_ci = false``, written where the data team keeps it.

    At the demo's sizes (about 2,000 control patients) several risks cannot be bounded
    below their limits whatever the replica (the upper end of inference of death's CI
    needs ~9,000 control patients): the default policy refuses, as it should for real
    data. The demo shows the pipeline to its end on simulated data, so it decides on the
    estimates, says so, and the risk report shows which checks are amber. The text is
    ``harmonie release policy --on-estimates``'s (``privacy.release.policy.policy_on_estimates``).
    """
    from harmonie.io import write_text
    from privacy.release.policy import policy_on_estimates

    return write_text(policy_on_estimates(), path)


def _synth_stage(parties: dict, seed: int, policy: Path | None, report) -> dict:
    """Extracts, analytic dataset, replica, release gate: the data team's half of the pipeline."""
    import json

    import pyarrow as pa

    from harmonie.io import read_table, write_parquet
    from privacy.release.gate import ReleaseRefused, release
    from privacy.release.signing import load_signing_key, new_signing_key
    from synth.analytic import build_analytic
    from synth.cli import lineage_of
    from synth.dataset import write_dataset
    from synth.extract import linked_ids, make_extract, write_extract
    from synth.replica import fit_model, replica_provenance, sample_model

    team = parties["data_team"]
    links = parties["linkage_unit"] / "run" / "links.parquet"
    shutil.copy(links, team / "links.parquet")  # the linkage unit sends the links to the data team
    linked = linked_ids(team / "links.parquet")
    extracts = {}
    for role in _SIDES:  # each holder extracts its linked patients' study variables, by linkage id
        holder = parties[f"holder_{role}"]
        with stage(f"holder {role}: extract the linked patients' study variables"):
            tables, counts = make_extract(role, holder, holder / "crosswalk.parquet", linked)
            write_extract(tables, holder / "extract")
        shutil.copytree(holder / "extract", team / f"extract_{role}", dirs_exist_ok=True)
        extracts[role] = tables
        report(f"holder {role}: sent the data team " + ", ".join(
            f"{c['rows_kept']:,} {name} rows" for name, c in counts.items()) + " of linked patients, by linkage id")
    with stage("data team: build the analytic dataset"):
        links_frame = read_table(team / "links.parquet", columns=["left_id", "right_id"]).to_pandas()
        analytic = build_analytic(links_frame, extracts["cohort"], extracts["snds"], seed=seed)
        lineage = {"harmonie.lineage": json.dumps(lineage_of(links), sort_keys=True)}
        write_dataset(analytic.train, team / "analytic" / "train", metadata=lineage)
        write_dataset(analytic.control, team / "analytic" / "control", metadata=lineage)
        write_parquet(pa.Table.from_pandas(analytic.quarantine, preserve_index=False),
                      team / "analytic" / "quarantine.parquet")
    p = analytic.summary["patients"]
    report(f"data team: analytic dataset of {p['kept']:,} linked patients ({p['train']:,} for training, "
           f"{p['control']:,} kept aside as control; {p['quarantined']:,} quarantined)")

    model = fit_model(analytic.train, team / "model", seed=seed, lineage=lineage_of(links))
    replica, manifest = sample_model(model, len(analytic.train["patients"]), seed=seed + 1)
    write_dataset(replica, team / "replica", metadata=replica_provenance(manifest, seed + 1))
    report(f"data team: replica of {len(replica['patients']):,} patients, {len(replica['stays']):,} stays, "
           f"{len(replica['dispensings']):,} dispensings ({manifest['generator']})")

    if policy is None:
        policy = write_demo_policy(team / "release_policy.toml")
        report(f"data team: release policy {policy}: the defaults, but decided on the estimates (simulated data; "
               "too few control patients to bound every risk, see the amber checks)")
    passphrase = os.environ.get("HARMONIE_SIGNING_PASSPHRASE") or DEMO_PASSPHRASE
    new_signing_key(team / "release_signing.key", passphrase)
    key = load_signing_key(team / "release_signing.key", passphrase)
    bundle = team / "release_bundle"
    try:
        with stage("release gate: risk, utility, policy"):
            manifest = release(team / "replica", team / "analytic" / "train", team / "analytic" / "control", bundle,
                               signing_key=key, policy_path=policy)
        report(f"release gate: released and signed ({bundle}); utility {manifest['utility']['verdict']}")
        return {"released": True, "bundle": bundle, "reports": bundle, "manifest": manifest,
                "analytic": analytic.summary}
    except ReleaseRefused as refused:
        from privacy.release.gate import write_refusal
        from privacy.release.policy import load_policy

        # what `harmonie release` writes to OUT/refused/: risk and utility reports, what would change the verdict
        write_refusal(team / "refused", refused, policy=load_policy(policy)[0], real=analytic.train,
                      synthetic=replica, control=analytic.control, seed=seed)
        report(f"release gate: REFUSED ({refused}); reports in {team / 'refused'}")
        return {"released": False, "refusal": str(refused), "analytic": analytic.summary,
                "reports": team / "refused"}


def _numbered(report, total: int):
    """``report`` with each line numbered [k/N], so a reader of a long demo knows how far it is."""
    done = [0]

    def numbered(line: str) -> None:
        done[0] += 1
        report(f"[{done[0]}/{max(total, done[0])}] {line}")

    return numbered


def run_demo(out_dir: str | Path, *, scale: str = "small", scenario: str = "indirect", seed: int = 0,
             overwrite: bool = False, policy: str | Path | None = None, report=print) -> dict:
    """Run the demo pipeline into ``out_dir``; return what each stage measured."""
    from harmonie.demo_report import write_demo_report

    if scale not in DEFAULT_SIZES:
        raise HarmonieError(f"unknown scale {scale!r}: choose one of {', '.join(DEFAULT_SIZES)}")
    if scenario not in SCENARIOS:
        raise HarmonieError(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    out = Path(out_dir)
    parties = _prepare(out, overwrite, policy)
    report = _numbered(report, DEMO_STEPS - (policy is not None))
    n_cohort, n_snds = DEFAULT_SIZES[scale]
    result = _link_stage(parties, scenario, n_cohort, n_snds, seed, report)
    result["release"] = _synth_stage(parties, seed, Path(policy) if policy else None, report)
    result["report"] = write_demo_report(out, result, scale=scale, scenario=scenario)
    report(f"report: {result['report']}")
    return result
