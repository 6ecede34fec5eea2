"""``harmonie audit attack``: the attack self-audit of an encoded file (see privacy.audit.attack)."""

from __future__ import annotations

from pathlib import Path

import click

from harmonie.output_flag import overwrite_option

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command("attack")
@click.option("--encoded", "encoded_path", type=_FILE, required=True, help="The encoded file to attack.")
@click.option("--reference", "reference_paths", type=_FILE, multiple=True, required=True,
              help="Public name-frequency list (Parquet: value, count): the attacker's knowledge. "
                   "Once, or once per --field in the same order.")
@click.option("--field", "fields", multiple=True,
              help="Bloom-filter column to attack (repeat for several) [default: every Bloom-filter column].")
@click.option("--spec", "spec_path", type=_FILE, default=None,
              help="The spec the file was encoded with, as the linkage unit holds it: gives the q-gram length, "
                   "salts (records are then grouped by the salt's token) and which fields share a key.")
@click.option("--group-by", default=None,
              help="Token column to group records by before attacking (a salt), overriding the spec.")
@click.option("--plaintext-truth", "truth_path", type=_FILE, default=None,
              help="Holder's truth for measurement only (Parquet: linkage_id and the true normalised value, "
                   "as 'value' or one column per field).")
@click.option("--qgram", type=click.IntRange(1, 4), default=2, show_default=True,
              help="Q-gram length of the encoding, when no --spec is given.")
@click.option("--frequency-only", is_flag=True, help="Run the frequency alignment alone (no pattern step).")
@click.option("--fail-above", type=click.FloatRange(0, 1), default=None,
              help="Exit with status 3 when a field's share of records re-identified exceeds this (needs "
                   "--plaintext-truth).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for attack.json and attack.txt (figures only, never a name).")
@overwrite_option()
def attack(encoded_path: Path, reference_paths: tuple[Path, ...], fields: tuple[str, ...], spec_path: Path | None,
           group_by: str | None, truth_path: Path | None, qgram: int, frequency_only: bool,
           fail_above: float | None, out_dir: Path, overwrite: bool = False) -> None:
    """Run the published attacks on Bloom-filter encodings against an encoded file.

    Frequency alignment of frequent filters with frequent names (Kuzu et al. 2011,
    Christen et al. 2017), then the q-gram pattern step that learns which bit positions
    each q-gram sets from the aligned pairs and decodes the other filters. Reports the share
    of records and of distinct values re-identified (with --plaintext-truth), else what the
    attacker claims.
    """
    from harmonie.errors import HarmonieError
    from harmonie.output_set import OutputFolder
    from privacy.audit.attack import run_attack, summary_lines, write_attack_report
    from privacy.audit.attack_patterns import AttackSettings
    from privacy.audit.trail import note

    if fail_above is not None and truth_path is None:
        raise HarmonieError("--fail-above needs --plaintext-truth (without it nothing is measured)")
    outputs = OutputFolder(out_dir, "audit attack", overwrite=overwrite,
                           inputs={"--encoded": encoded_path, "--spec": spec_path, "--plaintext-truth": truth_path,
                                   **{f"--reference {p}": p for p in reference_paths}}).check()
    settings = AttackSettings(qgram=qgram, patterns=not frequency_only)
    report = run_attack(encoded_path, list(reference_paths), list(fields), spec=spec_path, group_by=group_by,
                        truth=truth_path, settings=settings)
    with outputs as staging:
        write_attack_report(report, staging)
    note(key_fingerprint=report.metadata.get("key_fingerprint"), spec_hash=report.metadata.get("spec_hash"),
         rows={"records": report.metadata.get("rows_encoded")})
    for line in summary_lines(report):
        click.echo(line)
    click.echo(f"wrote {out_dir / 'attack.json'}, {out_dir / 'attack.txt'}")
    if fail_above is not None:
        worst = max(f["frequency_and_pattern_attack"].get("share_records_reidentified", 0.0)
                    for f in report.fields.values())
        if worst > fail_above:
            click.echo(f"re-identification {100 * worst:.2f}% of records exceeds {100 * fail_above:.2f}%", err=True)
            raise click.exceptions.Exit(3)

