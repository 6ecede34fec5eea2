"""``harmonie keys``: create a linkage secret and show its public fingerprint."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def keys() -> None:
    """Linkage secrets (held by the data holders only, never by the linkage unit).

    The passphrase is read from HARMONIE_KEY_PASSPHRASE, or asked for interactively;
    it is never accepted on the command line.
    """


@keys.command("new")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Key file to create (never overwritten).")
def new_key(out_path: Path) -> None:
    """Create a random 256-bit linkage secret, encrypted at rest under a passphrase."""
    from privacy.keys import generate_key, passphrase_from_environment, save_key

    passphrase = passphrase_from_environment(confirm=True)
    key = generate_key()
    save_key(key, out_path, passphrase)
    click.echo(f"created {out_path}")
    click.echo(f"fingerprint {key.fingerprint}")


@keys.command("fingerprint")
@click.argument("key_file", type=click.Path(dir_okay=False, path_type=Path))
def fingerprint(key_file: Path) -> None:
    """Print the key's public fingerprint (safe to share; reveals nothing about the secret)."""
    from privacy.keys import load_key, passphrase_from_environment

    click.echo(load_key(key_file, passphrase_from_environment()).fingerprint)


commands = [keys]
