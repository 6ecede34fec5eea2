"""``harmonie demo``: the main job on embedded default data.

For now it simulates a small cohort <-> SNDS population and prints its summary; the
encoding, linkage, synthesis and release stages join it as they land.
"""

from __future__ import annotations

from pathlib import Path

import click

from harmonie.errors import HarmonieError

DEFAULT_SIZES = {"small": (2_000, 30_000), "harmonie": (193_000, 3_000_000)}


def run_demo(out_dir: str | Path, *, scale: str = "small", seed: int = 0, overwrite: bool = False) -> dict:
    """Run the demo pipeline into ``out_dir`` (laid out by party); return the summary."""
    from harmonie.io import ensure_output_dir
    from linkage.datasets import make_population, population_summary

    if scale not in DEFAULT_SIZES:
        raise HarmonieError(f"unknown scale {scale!r}: choose one of {', '.join(DEFAULT_SIZES)}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise HarmonieError(f"output folder {out} is not empty; pass --overwrite to replace its contents")
    ensure_output_dir(out)
    n_cohort, n_snds = DEFAULT_SIZES[scale]
    population = make_population(n_cohort, n_snds, seed=seed)
    population.write(out / "simulated")
    return population_summary(population)


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Folder for everything the demo produces.")
@click.option("--scale", type=click.Choice(list(DEFAULT_SIZES)), default="small", show_default=True,
              help="small: 2,000 x 30,000; harmonie: 193,000 x 3,000,000.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Reuse a non-empty output folder.")
def demo(out_dir: Path, scale: str, seed: int, overwrite: bool) -> None:
    """Run the Harmonie pipeline end to end on embedded default data."""
    from rich.console import Console

    from linkage.datasets.summary import render_summary

    summary = run_demo(out_dir, scale=scale, seed=seed, overwrite=overwrite)
    Console().print(render_summary(summary))
    click.echo(f"demo outputs in {out_dir}/")
