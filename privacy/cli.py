"""``harmonie keys``: create a linkage secret and show its public fingerprint."""

from __future__ import annotations

from pathlib import Path

import click

from harmonie.output_flag import overwrite_option
from privacy.audit.attack_cli import attack


@click.group()
def keys() -> None:
    """Linkage secrets (held by the data holders only, never by the linkage unit).

    The passphrase is read from HARMONIE_KEY_PASSPHRASE, or asked for interactively;
    it is never accepted on the command line.
    """


@keys.command("new")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Key file to create (never overwritten: there is no --overwrite for a key).")
def new_key(out_path: Path) -> None:
    """Create a random 256-bit linkage secret, encrypted at rest under a passphrase.

    The key file is created readable by you only (mode 0600) and never overwritten (a key
    may exist nowhere else, so this command has no --overwrite): if it already exists, or
    another `keys new` creates it first, this one fails.

    The passphrase needs at least 12 characters, at least 8 of them different, not only
    whitespace, and not one shorter sequence repeated (like 'abcabcabcabc').
    """
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


_DIR = click.Path(file_okay=False, path_type=Path)
_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command()
@click.option("--real", "real_dir", type=_DIR, required=True, help="The real data the generator learned from.")
@click.option("--synthetic", "synthetic_dir", type=_DIR, required=True)
@click.option("--control", "control_dir", type=_DIR, required=True, help="Real patients the generator never saw.")
@click.option("--out", "out_dir", type=_DIR, required=True, help="Folder for risk.html and risk.json.")
@click.option("--policy", "policy_path", type=_FILE, default=None, help="Release policy (default: built in).")
@click.option("--also-real", "also_real", type=_DIR, multiple=True,
              help="Another real dataset no replica patient may copy (repeatable).")
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Seed of the sampled measures, to reproduce a report (default: a fresh secret one, reported).")
@overwrite_option()
def risk(real_dir: Path, synthetic_dir: Path, control_dir: Path, out_dir: Path, policy_path: Path | None,
         also_real: tuple[Path, ...], seed: int | None, overwrite: bool = False) -> None:
    """Screen a replica for real patients, then measure its re-identification risk (Anonymeter, distances...)."""
    from harmonie.output_set import OutputFolder
    from privacy.release.gate import assess, fresh_seed
    from privacy.release.policy import load_policy
    from privacy.risk.report import write_risk_report
    from synth.dataset import read_dataset

    outputs = OutputFolder(out_dir, "risk", overwrite=overwrite, inputs={
        "--real": real_dir, "--synthetic": synthetic_dir, "--control": control_dir, "--policy": policy_path,
        **{f"--also-real {p}": p for p in also_real}}).check()  # before measuring
    policy, _ = load_policy(policy_path)
    others = {f"other_real_{i}": read_dataset(folder) for i, folder in enumerate(also_real, start=1)}
    measured, checks = assess(read_dataset(real_dir), read_dataset(synthetic_dir), read_dataset(control_dir), policy,
                              seed=fresh_seed() if seed is None else seed, also_real=others)
    with outputs as staging:
        write_risk_report(measured, checks, policy, staging)
    failed = [c["name"] for c in checks if not c["passed"]]
    amber = [c["name"] for c in checks if c["status"] == "amber"]
    click.echo(f"risk: {'passes' if not failed else 'fails'} the policy"
               + (f" ({', '.join(failed)})" if failed else "")
               + (f"; amber, the CI crosses the limit: {', '.join(amber)}" if amber else "")
               + f" — see {out_dir / 'risk.html'}")


@click.group(invoke_without_command=True)
@click.option("--synthetic", "synthetic_dir", type=_DIR, help="The replica to release.")
@click.option("--real", "real_dir", type=_DIR, help="The real data the generator learned from.")
@click.option("--control", "control_dir", type=_DIR, help="Real patients the generator never saw.")
@click.option("--policy", "policy_path", type=_FILE, default=None, help="Release policy TOML (default: built in).")
@click.option("--signing-key", "signing_key_path", type=_FILE, help="Ed25519 key from `harmonie release keygen`.")
@click.option("--remediate", is_flag=True, help="If the replica fails, coarsen and drop risky records, measure again.")
@click.option("--also-real", "also_real", type=_DIR, multiple=True,
              help="Another real dataset no replica patient may copy (repeatable).")
@click.option("--out", "out_dir", type=_DIR, help="Bundle folder to create (a refusal writes OUT/refused/).")
@overwrite_option("Replace a non-empty --out whole (e.g. an earlier refusal); a signed bundle is never replaced.")
@click.pass_context
def release(ctx, synthetic_dir, real_dir, control_dir, policy_path, signing_key_path, remediate, also_real,
            out_dir, overwrite=False) -> None:
    """Apply the release policy to a replica: write a signed bundle, or refuse (exit 3) naming each failure.

    A refusal names, for each failed check, what would change the verdict, and writes the
    refused replica's risk and utility reports (no replica, no bundle, no signature) to
    OUT/refused/. OUT must be absent or empty, or --overwrite given (never over a signed bundle).

    \b
      harmonie release --synthetic S --real R --control C --signing-key K --out BUNDLE [--policy P] [--remediate]
                       [--also-real OTHER ...] [--overwrite]
      harmonie release verify BUNDLE [--public-key K.pub]
      harmonie release keygen --out K          (passphrase: HARMONIE_SIGNING_PASSPHRASE)
      harmonie release policy [--on-estimates] (print the default policy; decided on the estimates: simulated data)
    """
    if ctx.invoked_subcommand is not None:
        return
    missing = [f"--{n}" for n, v in (("synthetic", synthetic_dir), ("real", real_dir), ("control", control_dir),
                                     ("signing-key", signing_key_path), ("out", out_dir)) if v is None]
    if missing:
        raise click.UsageError(f"missing option(s) {', '.join(missing)}")
    from privacy.keys import passphrase_from_environment
    from privacy.release.gate import ReleaseRefused, check_release_output
    from privacy.release.gate import release as run_release
    from privacy.release.signing import SIGNING_PASSPHRASE_ENV, load_signing_key

    check_release_output(out_dir, overwrite=overwrite, inputs={  # before the passphrase and any work
        "--synthetic": synthetic_dir, "--real": real_dir, "--control": control_dir, "--policy": policy_path,
        "--signing-key": signing_key_path, **{f"--also-real {p}": p for p in also_real}})
    key = load_signing_key(signing_key_path, passphrase_from_environment(variable=SIGNING_PASSPHRASE_ENV))
    try:
        manifest = run_release(synthetic_dir, real_dir, control_dir, out_dir, signing_key=key,
                               policy_path=policy_path, remediate=remediate, also_real=also_real,
                               overwrite=overwrite, refusal_reports=True)
    except ReleaseRefused as exc:
        click.echo(f"refused: {exc}", err=True)
        click.echo("what would change the verdict:", err=True)
        for line in exc.changes:
            click.echo(f"  {line}", err=True)
        if exc.reports is not None:
            click.echo(f"the refused replica's reports (no bundle, nothing signed): {exc.reports}/", err=True)
        ctx.exit(3)
    click.echo(f"released: {out_dir} (risk checks pass; utility {manifest['utility']['verdict']}); "
               f"check it with `harmonie release verify {out_dir}`")


@release.command("verify")
@click.argument("bundle", type=_DIR)
@click.option("--public-key", type=_FILE, default=None, help="Pin the signer: the .pub file you trust.")
@click.option("--strict", is_flag=True, help="Fail (exit 2) unless the signer is pinned with --public-key.")
def verify(bundle: Path, public_key: Path | None, strict: bool) -> None:
    """Check a bundle's signature, every file's SHA-256, and that nothing was added (exit 2 on any problem).

    Without --public-key only integrity is checked, against the key the bundle carries
    itself: anyone could have altered and re-signed it. Pin the signer's .pub to check who
    signed; --strict makes an unpinned check fail.
    """
    from privacy.release.bundle import verify_bundle

    manifest = verify_bundle(bundle, public_key, strict=strict)
    if public_key is None:
        click.echo(f"WARNING: authenticity NOT checked: only integrity against the key the bundle carries itself "
                   f"({manifest['signer_fingerprint']}); anyone could have re-signed it. "
                   "Pass --public-key with the signer's .pub you trust.", err=True)
    click.echo(f"bundle verified: {len(manifest['files'])} files intact, signed by {manifest['signer_fingerprint']}"
               + (" (pinned key)" if public_key else " (NOT pinned)"))


@release.command("keygen")
@click.option("--out", "out_path", type=_FILE, required=True, help="Private key file (KEY.pub is written too).")
def keygen(out_path: Path) -> None:
    """Create an Ed25519 release-signing key, encrypted under HARMONIE_SIGNING_PASSPHRASE.

    The private key is created readable by you only (mode 0600); neither file is ever
    overwritten (a key may exist nowhere else, so this command has no --overwrite). The passphrase needs at least 12 characters, at least 8 of them different,
    not only whitespace, and not one shorter sequence repeated (like 'abcabcabcabc').
    """
    from privacy.keys import passphrase_from_environment
    from privacy.release.signing import SIGNING_PASSPHRASE_ENV, new_signing_key

    pub, print_ = new_signing_key(out_path, passphrase_from_environment(confirm=True, variable=SIGNING_PASSPHRASE_ENV))
    click.echo(f"created {out_path} and {pub}; fingerprint {print_}")


@release.command("policy")
@click.option("--on-estimates", is_flag=True,
              help="The defaults decided on the estimates (use_upper_ci = false): for simulated data and "
                   "demonstrations only, as `harmonie demo` applies; a real release keeps the upper end of each CI.")
def show_policy(on_estimates: bool) -> None:
    """Print the default release policy (copy it to a file to change a threshold)."""
    from privacy.release.policy import DEFAULT_POLICY, policy_on_estimates

    click.echo(policy_on_estimates() if on_estimates else DEFAULT_POLICY, nl=False)


@click.group()
def audit() -> None:
    """The audit trail of every command (and, for holders, the attack self-audit of encodings)."""


@audit.command("verify")
@click.argument("log", type=_FILE, required=False)
@click.option("--expect-head", default=None, help="The head hash you recorded elsewhere: detects truncation too.")
def audit_verify(log: Path | None, expect_head: str | None) -> None:
    """Check the audit log's hash chain; name the first edited, removed or reordered entry (exit 2)."""
    from privacy.audit.trail import log_path
    from privacy.audit.trail import verify as verify_log

    result = verify_log(log or log_path(), expect_head)
    for cut in result["cut_entries"]:
        click.echo(f"warning: line {cut['line']} holds an entry cut mid-write ({cut['bytes']:,} bytes, kept as they "
                   f"are); entry {cut['recorded_by']} recorded it and the chain continues", err=True)
    click.echo(f"{result['entries']:,} entries, chain intact; head {result['head']}")


audit.add_command(attack)
commands = [keys, risk, release, audit]
