"""``harmonie synth``: extracts, the analytic dataset, replica models, replicas and their utility report."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harmonie.output_flag import overwrite_option

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
      (several cohorts: synth extract --clusters CLUSTERS --source NAME ..., then
       synth analytic --clusters CLUSTERS --cohort canto=EXTRACT --cohort esme=EXTRACT --snds EXTRACT_S ...)
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
@click.option("--clusters", "clusters_path", type=_FILE, default=None,
              help="Several cohorts (`harmonie link-all`): extract only your records that share a patient with "
                   "another source, from its clusters.parquet; goes with --source.")
@click.option("--source", "source", default=None, metavar="NAME",
              help="With --clusters: your source's name in the plan (e.g. canto, snds).")
@click.option("--out", "out_dir", type=_DIR, required=True)
@overwrite_option()
def extract(role: str, data_dir: Path, crosswalk: Path, links_path: Path | None, out_dir: Path,
            clusters_path: Path | None = None, source: str | None = None, overwrite: bool = False) -> None:
    """(holder) Study variables keyed by linkage id, for the data team: no names, NIRs or local ids."""
    from harmonie.io import read_table
    from harmonie.output_set import OutputFolder, check_output_set
    from harmonie.progress import stage
    from synth.clustered import CLUSTER_COLUMNS, linked_in_clusters
    from synth.extract import check_run, linked_ids, make_extract, write_extract

    if links_path is not None and clusters_path is not None:
        raise click.UsageError("give --links (one cohort) or --clusters (several), not both")
    if (clusters_path is None) != (source is None):
        raise click.UsageError("--clusters and --source go together")
    inputs = {"--data": data_dir, "--crosswalk": crosswalk, "--links": links_path, "--clusters": clusters_path}
    _never_into_an_input(out_dir, inputs)
    outputs = OutputFolder(out_dir, "synth extract", inputs=inputs, overwrite=overwrite).check()
    if links_path is not None:
        check_output_set(links_path)
        check_run(crosswalk, links_path)
        only = linked_ids(links_path)
    elif clusters_path is not None:
        check_output_set(clusters_path)
        only = linked_in_clusters(read_table(clusters_path, columns=list(CLUSTER_COLUMNS), what="clusters"), source)
    else:
        only = None
    with stage(f"extract the {role} study variables"), outputs as staging:
        tables, counts = make_extract(role, data_dir, crosswalk, only)
        write_extract(tables, staging)
    for name, c in counts.items():
        click.echo(f"{name}: {c['rows_kept']:,} of {c['rows_in']:,} rows extracted ({c['rows_left_out']:,} left out: "
                   f"{'not linked or ' if only is not None else ''}not encoded)")


@synth.command("analytic")
@click.option("--links", "links_path", type=_FILE, default=None, help="links.parquet from `harmonie link`.")
@click.option("--clusters", "clusters_path", type=_FILE, default=None,
              help="Several cohorts: clusters.parquet from `harmonie link-all` (one patient per Harmonie id, with "
                   "the variables of every programme that follows it); then each --cohort is NAME=EXTRACT.")
@click.option("--cohort", "cohort_items", multiple=True, required=True, metavar="EXTRACT | NAME=EXTRACT",
              help="The cohort holder's extract; with --clusters, one per programme as NAME=EXTRACT, NAME its "
                   "source in the plan, earlier ones first where two programmes date a diagnosis the same day.")
@click.option("--snds", "snds_dir", type=_DIR, required=True, help="The SNDS holder's extract.")
@click.option("--snds-source", default="snds", show_default=True, help="With --clusters: SNDS's source name.")
@click.option("--out", "out_dir", type=_DIR, required=True)
@click.option("--control-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of patients kept aside (never seen by a generator) for risk and utility measures.")
@click.option("--seed", type=_SEED, default=0, show_default=True)
@overwrite_option()
def analytic(links_path: Path | None, cohort_items: tuple[str, ...], snds_dir: Path, out_dir: Path,
             control_fraction: float, seed: int, clusters_path: Path | None = None, snds_source: str = "snds",
             overwrite: bool = False) -> None:
    """(data team) One row per linked patient with its claims; writes OUT/train, OUT/control, quarantine."""
    import pyarrow as pa

    from harmonie.errors import HarmonieError
    from harmonie.io import read_table, write_parquet, write_text
    from harmonie.output_set import OutputFolder, check_output_set
    from harmonie.progress import stage
    from synth.analytic import build_analytic
    from synth.clustered import CLUSTER_COLUMNS, build_clustered_analytic
    from synth.dataset import write_dataset
    from synth.extract import read_extract

    if (links_path is None) == (clusters_path is None):
        raise click.UsageError("give --links (one cohort) or --clusters (several cohorts)")
    cohorts = _cohort_extracts(cohort_items, named=clusters_path is not None)
    inputs = {"--links": links_path, "--clusters": clusters_path, "--snds": snds_dir,
              **{f"--cohort {name}": folder for name, folder in cohorts.items()}}
    _never_into_an_input(out_dir, inputs)
    source = links_path if links_path is not None else clusters_path
    check_output_set(source, source.with_name("summary.json" if links_path else "cluster_summary.json"))
    with OutputFolder(out_dir, "synth analytic", inputs=inputs, overwrite=overwrite) as out:
        with stage("build the analytic dataset"):
            snds = read_extract("snds", snds_dir)
            if links_path is not None:
                links = read_table(links_path, columns=["left_id", "right_id"], what="links").to_pandas()
                result = build_analytic(links, read_extract("cohort", next(iter(cohorts.values()))), snds,
                                        seed=seed, control_fraction=control_fraction)
            else:
                clusters = read_table(clusters_path, columns=list(CLUSTER_COLUMNS), what="clusters")
                try:
                    extracts = {name: read_extract("cohort", folder) for name, folder in cohorts.items()}
                except HarmonieError as exc:
                    raise HarmonieError(f"{exc} (--cohort NAME=EXTRACT)") from None
                result = build_clustered_analytic(clusters, extracts, snds, snds_source=snds_source, seed=seed,
                                                  control_fraction=control_fraction)
        lineage = {"harmonie.lineage": json.dumps(lineage_of(source), sort_keys=True)}
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
    if "programmes" in result.summary:
        m = result.summary["programmes"]
        click.echo(f"{m['in_two_programmes_or_more']:,} patients followed in two programmes or more (one row each); "
                   f"{m['quarantined_disagreeing_records']:,} quarantined for disagreeing programme records; "
                   f"{m['snds_second_ids_merged']:,} SNDS second ids merged")


def _cohort_extracts(items: tuple[str, ...], *, named: bool) -> dict[str, Path]:
    """--cohort values: one EXTRACT (one cohort), or NAME=EXTRACT per programme (--clusters)."""
    if not named:
        if len(items) != 1 or ("=" in items[0] and not Path(items[0]).exists()):
            raise click.UsageError("with --links, give one --cohort EXTRACT (NAME=EXTRACT goes with --clusters)")
        return {"cohort": Path(items[0])}
    extracts = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise click.UsageError(f"with --clusters, each --cohort is NAME=EXTRACT (the source's name in the plan), "
                                   f"got {item!r}")
        if name in extracts:
            raise click.UsageError(f"--cohort {name} is given twice")
        extracts[name] = Path(folder)
    return extracts


def lineage_of(links_path: Path) -> dict:
    """Which links the dataset came from: their hash and, from the run's summary.json, spec and key (from a
    link-all run's clusters.parquet: its hash and plan)."""
    from harmonie.io import sha256_file

    if links_path.name == "clusters.parquet":
        lineage = {"clusters_sha256": sha256_file(links_path)}
        summary = links_path.parent / "cluster_summary.json"
        if summary.is_file():
            lineage["plan"] = json.loads(summary.read_text()).get("plan")
        return lineage
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
@overwrite_option()
def fit(data_dir: Path, out_dir: Path, generator: str, epochs: int, seed: int, top_code_k: int = 11,
        epsilon: float | None = None, delta: float | None = None, study_start=None, study_end=None,
        overwrite: bool = False) -> None:
    """Learn a replica model from an analytic dataset."""
    from harmonie.output_set import OutputFolder
    from synth.dataset import read_dataset, read_provenance
    from synth.dp_patients import dp_settings
    from synth.replica import fit_model
    from synth.topcoding import TopCoding

    _never_into_an_input(out_dir, {"--data": data_dir})
    privacy = dp_settings(generator, epsilon, delta, study_start and study_start.date(), study_end and study_end.date())

    with OutputFolder(out_dir, "synth fit", inputs={"--data": data_dir}, overwrite=overwrite) as staging:
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
@overwrite_option()
def sample(model_dir: Path, rows: int | None, out_dir: Path, seed: int, overwrite: bool = False) -> None:
    """Draw a synthetic dataset (patients, stays, dispensings) from a replica model."""
    from harmonie.output_set import OutputFolder
    from synth.dataset import write_dataset
    from synth.replica import replica_provenance, sample_model

    _never_into_an_input(out_dir, {"--model": model_dir})

    with OutputFolder(out_dir, "synth sample", inputs={"--model": model_dir}, overwrite=overwrite) as staging:
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
@overwrite_option()
def report(real_dir: Path, synthetic_dir: Path, control_dir: Path | None, out_dir: Path, seed: int,
           overwrite: bool = False) -> None:
    """Utility report (HTML + JSON): quality, distributions, survival curves, Cox model, TSTR."""
    from harmonie.output_set import OutputFolder
    from harmonie.progress import stage
    from synth.dataset import differential_privacy_of, read_dataset, read_provenance
    from synth.report import build_utility_report

    inputs = {"--real": real_dir, "--synthetic": synthetic_dir, "--control": control_dir}
    _never_into_an_input(out_dir, inputs)
    outputs = OutputFolder(out_dir, "synth report", inputs=inputs, overwrite=overwrite).check()  # before reading
    real, synthetic = read_dataset(real_dir), read_dataset(synthetic_dir)
    control = read_dataset(control_dir) if control_dir else None
    with stage("utility report"), outputs as staging:
        result = build_utility_report(real, synthetic, staging, control=control, seed=seed,
                                      differential_privacy=differential_privacy_of(read_provenance(synthetic_dir)))
    click.echo(f"utility: {result['verdict']} — see {out_dir / 'utility.html'}")


from synth.arms.cli import arm  # noqa: E402  (`harmonie arm`: external control arms, issue #20)

commands = [synth, arm]
