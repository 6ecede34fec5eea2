"""``harmonie synth``: extracts, the analytic dataset, replica models, replicas and their utility report."""

from __future__ import annotations

import json
from pathlib import Path

import click

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
MAX_SAMPLE_ROWS = 2_000_000  # ~5 KB of memory per synthetic patient with its claims: ~11 GB at the bound
_SEED = click.IntRange(0, 2**32 - 1)


def _never_into_an_input(out_dir: Path, inputs: dict) -> None:
    """``--out`` may not be an input folder or file (``synth extract --out`` = ``--data`` would replace the
    holder's plaintext tables with the extract)."""
    from harmonie.io import check_distinct_paths

    check_distinct_paths({"--out": out_dir}, inputs)


@click.group()
def synth() -> None:
    """Synthetic replicas of the linked oncology dataset.

    \b
    Typical flow (each holder, then the data team):
      harmonie synth extract --role cohort --data COHORT_DIR --crosswalk CW --links LINKS --out EXTRACT_C
      harmonie synth extract --role snds   --data SNDS_DIR   --crosswalk CW --links LINKS --out EXTRACT_S
      harmonie synth analytic --links LINKS --cohort EXTRACT_C --snds EXTRACT_S --out ANALYTIC
      harmonie synth fit    --data ANALYTIC/train --out MODEL
      harmonie synth sample --model MODEL --rows N --out REPLICA
      harmonie synth report --real ANALYTIC/train --synthetic REPLICA --control ANALYTIC/control --out REPORT
    """


@synth.command("extract")
@click.option("--role", type=click.Choice(["cohort", "snds"]), required=True, help="Which holder you are.")
@click.option("--data", "data_dir", type=_DIR, required=True, help="Your plaintext tables (Parquet).")
@click.option("--crosswalk", type=_FILE, required=True, help="Your crosswalk from `harmonie encode`.")
@click.option("--links", "links_path", type=_FILE, default=None,
              help="Extract only the linked records (recommended: the data team gets nobody else).")
@click.option("--out", "out_dir", type=_DIR, required=True)
def extract(role: str, data_dir: Path, crosswalk: Path, links_path: Path | None, out_dir: Path) -> None:
    """(holder) Study variables keyed by linkage id, for the data team: no names, NIRs or local ids."""
    from harmonie.output_set import OutputFolder, check_output_set
    from harmonie.progress import stage
    from synth.extract import check_run, linked_ids, make_extract, write_extract

    _never_into_an_input(out_dir, {"--data": data_dir, "--crosswalk": crosswalk, "--links": links_path})

    if links_path is not None:
        check_output_set(links_path)
        check_run(crosswalk, links_path)
    with stage(f"extract the {role} study variables"), OutputFolder(out_dir, "synth extract") as staging:
        tables, counts = make_extract(role, data_dir, crosswalk, linked_ids(links_path) if links_path else None)
        write_extract(tables, staging)
    for name, c in counts.items():
        click.echo(f"{name}: {c['rows_kept']:,} of {c['rows_in']:,} rows extracted ({c['rows_left_out']:,} left out: "
                   f"{'not linked or ' if links_path else ''}not encoded)")


@synth.command("analytic")
@click.option("--links", "links_path", type=_FILE, required=True, help="links.parquet from `harmonie link`.")
@click.option("--cohort", "cohort_dir", type=_DIR, required=True, help="The cohort holder's extract.")
@click.option("--snds", "snds_dir", type=_DIR, required=True, help="The SNDS holder's extract.")
@click.option("--out", "out_dir", type=_DIR, required=True)
@click.option("--control-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of patients kept aside (never seen by a generator) for risk and utility measures.")
@click.option("--seed", type=_SEED, default=0, show_default=True)
def analytic(links_path: Path, cohort_dir: Path, snds_dir: Path, out_dir: Path, control_fraction: float,
             seed: int) -> None:
    """(data team) One row per linked patient with its claims; writes OUT/train, OUT/control, quarantine."""
    import pyarrow as pa

    from harmonie.io import read_table, write_parquet, write_text
    from harmonie.output_set import OutputFolder, check_output_set
    from harmonie.progress import stage
    from synth.analytic import build_analytic
    from synth.dataset import write_dataset
    from synth.extract import read_extract

    _never_into_an_input(out_dir, {"--links": links_path, "--cohort": cohort_dir, "--snds": snds_dir})
    check_output_set(links_path, links_path.with_name("summary.json"))  # links and the lineage read beside them
    with OutputFolder(out_dir, "synth analytic") as out:
        with stage("build the analytic dataset"):
            links = read_table(links_path, columns=["left_id", "right_id"], what="links").to_pandas()
            result = build_analytic(links, read_extract("cohort", cohort_dir), read_extract("snds", snds_dir),
                                    seed=seed, control_fraction=control_fraction)
        lineage = {"harmonie.lineage": json.dumps(lineage_of(links_path), sort_keys=True)}
        write_dataset(result.train, out / "train", metadata=lineage)
        if result.control:
            write_dataset(result.control, out / "control", metadata=lineage)
        write_parquet(pa.Table.from_pandas(result.quarantine, preserve_index=False), out / "quarantine.parquet")
        write_text(json.dumps(result.summary, indent=2, sort_keys=True) + "\n", out / "analytic.json")
    out = Path(out_dir)
    p = result.summary["patients"]
    click.echo(f"{p['kept']:,} patients ({p['train']:,} train, {p['control']:,} control) from "
               f"{p['linked']:,} linked of {p['cohort_records']:,} cohort records; {p['quarantined']:,} quarantined "
               f"(reasons in {out / 'quarantine.parquet'})")


def lineage_of(links_path: Path) -> dict:
    """Which links the dataset came from: their hash and, from the run's summary.json, spec and key."""
    from harmonie.io import sha256_file

    lineage = {"links_sha256": sha256_file(links_path)}
    summary = links_path.parent / "summary.json"
    if summary.is_file():
        run = json.loads(summary.read_text())
        lineage.update({k: run.get(k) for k in ("spec", "spec_hash", "key_fingerprint")})
    return lineage


@synth.command("fit")
@click.option("--data", "data_dir", type=_DIR, required=True, help="An analytic dataset (e.g. ANALYTIC/train).")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Model folder to write.")
@click.option("--generator", type=click.Choice(["gaussian_copula", "ctgan", "tvae", "mst", "aim"]),
              default="gaussian_copula", show_default=True,
              help="Patient-level SDV synthesizer, or mst / aim: a differentially private patient table "
                   "(smartnoise-synth; the claims are not DP), which needs --epsilon.")
@click.option("--epochs", type=click.IntRange(1, 100_000), default=300, show_default=True,
              help="For ctgan and tvae (1 to 100,000).")
@click.option("--seed", type=_SEED, default=0, show_default=True)
@click.option("--top-code-k", type=click.IntRange(0, 10_000), default=11, show_default=True,
              help="Code ages, counts, lengths of stay, quantities and costs at the values at least this many real "
                   "patients reach, so no replica value lies in a tail fewer reach (0: no coding).")
@click.option("--epsilon", type=float, default=None,
              help="mst / aim: the privacy budget of the patient table (e.g. 1 strong, 3, 10 weak).")
@click.option("--delta", type=float, default=None, help="mst / aim: the DP delta [default: 1e-9].")
@click.option("--study-start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="mst / aim: first day of the study window, public (the protocol's) [default: 2008-01-01, the "
                   "simulated cohort's].")
@click.option("--study-end", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="mst / aim: last day of follow-up of the study window, public [default: 2025-12-31].")
def fit(data_dir: Path, out_dir: Path, generator: str, epochs: int, seed: int, top_code_k: int = 11,
        epsilon: float | None = None, delta: float | None = None, study_start=None, study_end=None) -> None:
    """Learn a replica model from an analytic dataset."""
    from harmonie.output_set import OutputFolder
    from synth.dataset import read_dataset, read_provenance
    from synth.dp_patients import dp_settings
    from synth.replica import fit_model
    from synth.topcoding import TopCoding

    _never_into_an_input(out_dir, {"--data": data_dir})
    privacy = dp_settings(generator, epsilon, delta, study_start and study_start.date(), study_end and study_end.date())

    with OutputFolder(out_dir, "synth fit") as staging:
        model = fit_model(read_dataset(data_dir), staging, generator=generator, seed=seed, epochs=epochs,
                          lineage=read_provenance(data_dir).get("lineage"), top_coding=TopCoding(top_code_k),
                          privacy=privacy)
    dp = model.differential_privacy
    click.echo(f"saved a {generator} replica model of {model.trained_on['patients']:,} patients "
               f"to {out_dir}" + (f" (patient table ({dp['epsilon']:g}, {dp['delta']:g})-DP; the claims are not DP)"
                                  if dp else ""))


@synth.command("sample")
@click.option("--model", "model_dir", type=_DIR, required=True)
@click.option("--rows", type=click.IntRange(1, MAX_SAMPLE_ROWS), default=None,
              help=f"Synthetic patients, 1 to {MAX_SAMPLE_ROWS:,} (default: as many as trained on; for more, "
                   "draw several replicas with other --seed values).")
@click.option("--out", "out_dir", type=_DIR, required=True)
@click.option("--seed", type=_SEED, default=0, show_default=True)
def sample(model_dir: Path, rows: int | None, out_dir: Path, seed: int) -> None:
    """Draw a synthetic dataset (patients, stays, dispensings) from a replica model."""
    from harmonie.output_set import OutputFolder
    from synth.dataset import write_dataset
    from synth.replica import replica_provenance, sample_model

    _never_into_an_input(out_dir, {"--model": model_dir})

    with OutputFolder(out_dir, "synth sample") as staging:
        tables, manifest = sample_model(model_dir, rows, seed=seed)
        write_dataset(tables, staging, metadata=replica_provenance(manifest, seed))
    trained = manifest.get("trained_on", {}).get("patients")
    if rows and trained and rows > trained:  # the fix is in --rows' help: several replicas, other seeds
        click.echo(f"warning: {rows:,} synthetic patients from a model of {trained:,} real ones ({rows / trained:.1f} "
                   "per real patient): a replica larger than its training data repeats what the model learnt of "
                   "rare patients and adds no information; draw replicas of at most "
                   f"{trained:,} patients with other --seed values instead", err=True)
    click.echo(f"wrote {len(tables['patients']):,} synthetic patients, {len(tables['stays']):,} stays and "
               f"{len(tables['dispensings']):,} dispensings to {out_dir}")


@synth.command("report")
@click.option("--real", "real_dir", type=_DIR, required=True, help="The real data the model learned from.")
@click.option("--synthetic", "synthetic_dir", type=_DIR, required=True)
@click.option("--control", "control_dir", type=_DIR, default=None,
              help="Real patients the model never saw (test set for train-synthetic/test-real).")
@click.option("--out", "out_dir", type=_DIR, required=True)
@click.option("--seed", type=_SEED, default=0, show_default=True)
def report(real_dir: Path, synthetic_dir: Path, control_dir: Path | None, out_dir: Path, seed: int) -> None:
    """Utility report (HTML + JSON): quality, distributions, survival curves, Cox model, TSTR."""
    from harmonie.output_set import OutputFolder
    from harmonie.progress import stage
    from synth.dataset import differential_privacy_of, read_dataset, read_provenance
    from synth.report import build_utility_report

    _never_into_an_input(out_dir, {"--real": real_dir, "--synthetic": synthetic_dir, "--control": control_dir})

    real, synthetic = read_dataset(real_dir), read_dataset(synthetic_dir)
    control = read_dataset(control_dir) if control_dir else None
    with stage("utility report"), OutputFolder(out_dir, "synth report") as staging:
        result = build_utility_report(real, synthetic, staging, control=control, seed=seed,
                                      differential_privacy=differential_privacy_of(read_provenance(synthetic_dir)))
    click.echo(f"utility: {result['verdict']} — see {out_dir / 'utility.html'}")


from synth.arms.cli import arm  # noqa: E402  (`harmonie arm`: external control arms, issue #20)

commands = [synth, arm]
