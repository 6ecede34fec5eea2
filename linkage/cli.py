"""Command-line front of the linkage package: ``harmonie simulate`` (more to come)."""

from __future__ import annotations

import json
from pathlib import Path

import click


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the Parquet files (created if missing).")
@click.option("--cohort", "n_cohort", type=int, default=None, help="Cohort patients [default: 2,000].")
@click.option("--snds", "n_snds", type=int, default=None, help="SNDS beneficiary ids [default: 30,000].")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed: same seed, same files.")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE",
              help="Set any simulation parameter, e.g. cohort.nir_missing=0.5 (repeatable).")
@click.option("--list-params", is_flag=True, help="List every parameter with its default and meaning, then exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON instead of tables.")
def simulate(out_dir: Path | None, n_cohort: int | None, n_snds: int | None, seed: int, params: tuple[str, ...],
             list_params: bool, as_json: bool) -> None:
    """Simulate a French cohort <-> SNDS population with ground truth, as Parquet files.

    Writes the cohort holder's patients and stays, the SNDS holder's beneficiaries, stays
    and dispensings, and truth.parquet (cohort_id, snds_id) into OUT. See the README for
    every file and column.
    """
    from rich.console import Console

    from harmonie.errors import InvalidParameter
    from linkage.datasets.params import PopulationParams, describe, with_overrides

    if list_params:
        for name, default, doc in describe():
            click.echo(f"{name:38s} {default!s:>22s}  {doc}")
        return
    if out_dir is None:
        raise click.UsageError("--out DIR is required")
    if n_cohort is not None and n_cohort < 0 or n_snds is not None and n_snds < 0:
        raise InvalidParameter("--cohort and --snds must be zero or more")
    from harmonie.io import ensure_output_dir
    from linkage.datasets import make_population, population_summary
    from linkage.datasets.summary import render_summary

    ensure_output_dir(out_dir)  # fail before simulating, not after
    population = make_population(n_cohort, n_snds, seed=seed, params=with_overrides(PopulationParams(), list(params)))
    population.write(out_dir)
    summary = population_summary(population)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        Console().print(render_summary(summary))
        click.echo(f"wrote {len(population.tables)} tables and population.json to {out_dir}")


commands = [simulate]
