"""``harmonie arm``: external control arms for single-arm trials, and their calibration.

Thin commands over :mod:`synth.arms.files`: parse, call, print. Heavy imports (pandas,
lifelines, scikit-learn) happen inside the commands, so ``harmonie --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from harmonie.output_flag import OVERWRITE_FILE_HELP, overwrite_option

_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)
_ANY = click.Path(path_type=Path)
_SEED = click.IntRange(0, 2**32 - 1)
_LOG_ODDS = click.FloatRange(-5, 5)


@click.group("arm")
def arm() -> None:
    """External (synthetic) control arms for a single-arm trial, with calibrated error rates.

    \b
    Typical flow (data team, inside the secure area):
      harmonie arm example-eligibility --out elig.toml        # then edit it: the emulated target trial
      harmonie arm build --trial TRIAL --eligibility elig.toml --source ANALYTIC/train --out ARM
      harmonie arm build --trial TRIAL --eligibility elig.toml --source REPLICA --out ARM_REPLICA
      harmonie arm calibrate --warehouse ANALYTIC/train --trial-source ANALYTIC/control --replica REPLICA \\
          --eligibility elig.toml --out CALIBRATION
    and, to try it without a trial: harmonie arm simulate-trial --source ANALYTIC/control ... --out TRIAL
    """


@arm.command("example-eligibility")
@click.option("--out", "out_path", type=_FILE, default=None, help="File to write (default: print it).")
@overwrite_option(OVERWRITE_FILE_HELP)
def example_eligibility(out_path: Path | None, overwrite: bool) -> None:
    """Write an example eligibility spec (TOML) to start from."""
    from harmonie.io import write_text
    from harmonie.output_set import check_output_file
    from synth.arms.eligibility import example_eligibility_text

    if out_path is None:
        click.echo(example_eligibility_text(), nl=False)
        return
    check_output_file(out_path, overwrite=overwrite)
    write_text(example_eligibility_text(), out_path)
    click.echo(f"wrote an example eligibility spec to {out_path}")


@arm.command("simulate-trial")
@click.option("--source", "source_dir", type=_DIR, required=True,
              help="Real patients the warehouse does not hold (e.g. ANALYTIC/control).")
@click.option("--eligibility", "eligibility_path", type=_FILE, required=True)
@click.option("--out", "out_dir", type=_DIR, required=True, help="Trial folder to write (analytic schema).")
@click.option("--size", type=click.IntRange(20, 100_000), default=100, show_default=True, help="Trial patients.")
@click.option("--hazard-ratio", type=click.FloatRange(0, 1, min_open=True), default=0.7, show_default=True,
              help="The new drug's hazard ratio of death vs standard of care, in (0, 1].")
@click.option("--age-log-odds", type=_LOG_ODDS, default=-0.5, show_default=True,
              help="Log-odds of enrolment per decade of age (negative: younger patients enrol more).")
@click.option("--stage-log-odds", type=_LOG_ODDS, default=-0.7, show_default=True,
              help="Log-odds of enrolment per stage step (negative: earlier stages enrol more).")
@click.option("--seed", type=_SEED, default=0, show_default=True)
@overwrite_option()
def simulate_trial(source_dir: Path, eligibility_path: Path, out_dir: Path, size: int, hazard_ratio: float,
                   age_log_odds: float, stage_log_odds: float, seed: int, overwrite: bool) -> None:
    """Draw a simulated single-arm trial with a known drug effect from eligible patients of SOURCE."""
    from synth.arms.files import simulate_trial_files

    summary = simulate_trial_files(source_dir, eligibility_path, out_dir, size=size, hazard_ratio=hazard_ratio,
                                   age_log_odds_per_10y=age_log_odds, stage_log_odds=stage_log_odds, seed=seed,
                                   overwrite=overwrite)
    click.echo(f"wrote a simulated trial of {summary['size']:,} patients (drug hazard ratio "
               f"{summary['design']['hazard_ratio']:g}) to {out_dir}")


@arm.command("build")
@click.option("--trial", "trial_path", type=_ANY, required=True,
              help="The trial arm: a folder in the analytic schema (patients.parquet, with stays and dispensings "
                   "when the spec reads claims) or a patients Parquet file.")
@click.option("--eligibility", "eligibility_path", type=_FILE, required=True, help="The emulated trial (TOML).")
@click.option("--source", "source_dir", type=_DIR, required=True,
              help="Where the controls come from: the warehouse (ANALYTIC/train) or a replica folder.")
@click.option("--out", "out_dir", type=_DIR, required=True)
@click.option("--seed", type=_SEED, default=0, show_default=True)
@overwrite_option()
def build(trial_path: Path, eligibility_path: Path, source_dir: Path, out_dir: Path, seed: int,
          overwrite: bool) -> None:
    """Select, balance and compare an external control arm; write the report and the analysis set."""
    from synth.arms.files import build_arm_files

    doc = build_arm_files(trial_path, eligibility_path, source_dir, out_dir, overwrite=overwrite, seed=seed)
    hr = doc["outcome"]["hazard_ratio"]

    def text(h: dict) -> str:
        return (f"{h['hr']:.3f} (95% CI {h['lower_95']:.3f}-{h['upper_95']:.3f})" if h.get("hr") is not None
                else h.get("problem") or "not estimated")

    click.echo(f"{doc['source']} control arm: HR balanced {text(hr['balanced'])}, unadjusted {text(hr['unadjusted'])}; "
               f"largest |SMD| after balancing {doc['balance_summary']['largest_abs_smd_after']}")
    for warning in doc["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"report: {out_dir / 'report' / 'arm.html'}")


@arm.command("calibrate")
@click.option("--warehouse", "warehouse_dir", type=_DIR, required=True, help="The real warehouse (ANALYTIC/train).")
@click.option("--trial-source", "trial_source_dir", type=_DIR, required=True,
              help="Real patients the warehouse does not hold, to draw trials from (ANALYTIC/control).")
@click.option("--replica", "replica_dir", type=_DIR, default=None, help="A replica fitted on the warehouse.")
@click.option("--eligibility", "eligibility_path", type=_FILE, required=True)
@click.option("--out", "out_dir", type=_DIR, required=True)
@click.option("--trials", type=click.IntRange(1, 100_000), default=200, show_default=True,
              help="Simulated trials per setting.")
@click.option("--hazard-ratio", "hazard_ratios", type=click.FloatRange(0, 1, min_open=True), multiple=True,
              default=(1.0, 0.7), show_default=True, help="Drug effects to calibrate at (repeat the option).")
@click.option("--trial-size", type=click.IntRange(20, 100_000), default=100, show_default=True)
@click.option("--control-size", type=click.IntRange(20, 10_000_000), default=400, show_default=True,
              help="Eligible controls drawn from each source per trial (well below the pool: see the docs).")
@click.option("--age-log-odds", type=_LOG_ODDS, default=-0.5, show_default=True)
@click.option("--stage-log-odds", type=_LOG_ODDS, default=-0.7, show_default=True)
@click.option("--seed", type=_SEED, default=0, show_default=True)
@overwrite_option()
def calibrate(warehouse_dir: Path, trial_source_dir: Path, replica_dir: Path | None, eligibility_path: Path,
              out_dir: Path, trials: int, hazard_ratios: tuple[float, ...], trial_size: int, control_size: int,
              age_log_odds: float, stage_log_odds: float, seed: int, overwrite: bool) -> None:
    """Type I error, power, bias and CI coverage of this design's control arms over simulated trials."""
    from synth.arms.calibrate import CalibrationSettings
    from synth.arms.calibration_report import markdown_table
    from synth.arms.files import calibrate_files

    settings = CalibrationSettings(trials=trials, hazard_ratios=tuple(hazard_ratios), trial_size=trial_size,
                                   control_size=control_size, age_log_odds_per_10y=age_log_odds,
                                   stage_log_odds=stage_log_odds, seed=seed)
    doc, _ = calibrate_files(warehouse_dir, trial_source_dir, eligibility_path, out_dir, replica_dir=replica_dir,
                             settings=settings, overwrite=overwrite)
    click.echo(markdown_table(doc["summary"]))
    for warning in doc["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"report: {out_dir / 'calibration.html'}")
