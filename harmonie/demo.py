"""``harmonie demo``: the main job on embedded default data, with the parties kept apart.

Stages: simulate a cohort <-> SNDS population -> create the linkage secret -> each holder
encodes its side -> the linkage unit links the encoded files -> the evaluator measures the
links against the simulation's truth. The synthetic-data and release stages join it as
they land. The output folder is laid out by party, so a reader sees who holds what:

    OUT/holder_cohort/   the cohort's plaintext files, its key copy, crosswalk, encoded file
    OUT/holder_snds/     the same for the insurer
    OUT/linkage_unit/    the two encoded files it received, the spec, and the linkage run
    OUT/evaluator/       the simulation's truth and the evaluation of the links
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import click

from harmonie.errors import HarmonieError

DEFAULT_SIZES = {"small": (2_000, 30_000), "harmonie": (193_000, 3_000_000)}
SCENARIOS = ("indirect", "names", "direct")
DEMO_PASSPHRASE = "harmonie demo passphrase (not for real data)"
_SIDES = {"cohort": ("cohort_patients", "cohort_stays"), "snds": ("snds_beneficiaries", "snds_stays")}
_TRUTH_TABLES = ("truth", "hard_cases", "snds_duplicates", "corruptions")


def run_demo(out_dir: str | Path, *, scale: str = "small", scenario: str = "indirect", seed: int = 0,
             overwrite: bool = False, report=print) -> dict:
    """Run the demo pipeline into ``out_dir``; return the population summary and the evaluation."""
    import pandas as pd

    from harmonie.io import ensure_output_dir, write_parquet, write_text
    from linkage.datasets import make_population, population_summary
    from linkage.encoding import encode_holder, write_encoded
    from linkage.evaluate import evaluate_links
    from linkage.link import link, write_link_outputs
    from linkage.spec import example_spec, example_spec_text
    from privacy.keys import generate_key, save_key

    if scale not in DEFAULT_SIZES:
        raise HarmonieError(f"unknown scale {scale!r}: choose one of {', '.join(DEFAULT_SIZES)}")
    if scenario not in SCENARIOS:
        raise HarmonieError(f"unknown scenario {scenario!r}: choose one of {', '.join(SCENARIOS)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise HarmonieError(f"output folder {out} is not empty; pass --overwrite to replace its contents")
        shutil.rmtree(out)
    ensure_output_dir(out)
    parties = {name: ensure_output_dir(out / name) for name in
               ("holder_cohort", "holder_snds", "linkage_unit", "evaluator")}

    n_cohort, n_snds = DEFAULT_SIZES[scale]
    population = make_population(n_cohort, n_snds, seed=seed)
    for role, tables in _SIDES.items():
        population.write(parties[f"holder_{role}"], tables=tables)
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
        result = encode_holder(spec, key, role, population.tables[patients], population.tables[stays])
        write_encoded(result.encoded, result.metadata, holder / f"{role}.encoded.parquet")
        write_parquet(result.crosswalk, holder / "crosswalk.parquet")
        write_parquet(result.rejects, holder / "rejects.parquet")
        shutil.copy(holder / f"{role}.encoded.parquet", parties["linkage_unit"] / f"{role}.encoded.parquet")
        m = result.metadata
        report(f"holder {role}: encoded {m['rows_encoded']:,} of {m['rows_in']:,} records "
               f"({m['rows_rejected']:,} rejected) with the '{scenario}' spec; sent the encoded file")

    result = link(spec, parties["linkage_unit"] / "cohort.encoded.parquet",
                  parties["linkage_unit"] / "snds.encoded.parquet")
    write_link_outputs(result, parties["linkage_unit"] / "run", keep_candidates=True)
    s = result.summary
    report(f"linkage unit: {s['candidate_pairs']:,} candidate pairs, {s.get('links', 0):,} links "
           f"(model's own estimate: precision {s.get('estimated', {}).get('precision', 0):.4f}, "
           f"recall {s.get('estimated', {}).get('recall', 0):.4f})")

    # for measuring quality only, the holders hand their crosswalks to the evaluator
    crosswalks = {}
    for role in _SIDES:
        shutil.copy(parties[f"holder_{role}"] / "crosswalk.parquet", parties["evaluator"] / f"{role}_crosswalk.parquet")
        crosswalks[role] = pd.read_parquet(parties["evaluator"] / f"{role}_crosswalk.parquet")
    run = parties["linkage_unit"] / "run"
    evaluation = evaluate_links(
        result.links.to_pandas(), population["truth"], crosswalks["cohort"], crosswalks["snds"],
        population["snds_duplicates"], summary_path=run / "summary.json", out_dir=parties["evaluator"],
        candidates_path=run / "candidates.parquet")
    report(f"evaluator: precision {evaluation['precision']:.4f}, recall {evaluation['recall']:.4f}, "
           f"F1 {evaluation['f1']:.4f}; pairs completeness {evaluation['pairs_completeness']:.4f}")
    return {"population": summary, "evaluation": evaluation}


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Folder for everything the demo produces, laid out by party.")
@click.option("--scale", type=click.Choice(list(DEFAULT_SIZES)), default="small", show_default=True,
              help="small: 2,000 x 30,000; harmonie: 193,000 x 3,000,000.")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="indirect", show_default=True,
              help="Which linkage spec the holders use.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace the contents of a non-empty output folder.")
def demo(out_dir: Path, scale: str, scenario: str, seed: int, overwrite: bool) -> None:
    """Run the Harmonie pipeline end to end on embedded default data."""
    result = run_demo(out_dir, scale=scale, scenario=scenario, seed=seed, overwrite=overwrite,
                      report=lambda line: click.echo(line))
    from rich.console import Console

    from linkage.datasets.summary import render_summary

    Console().print(render_summary(result["population"]))
    click.echo(f"demo outputs in {out_dir}/ (holder_cohort/, holder_snds/, linkage_unit/, evaluator/)")
