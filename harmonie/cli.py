"""The ``harmonie`` command: one root group assembling each package's commands.

Commands are thin: parse, call a library function, print. A :class:`HarmonieError` (bad
input, impossible parameters, unwritable output) becomes one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harmonie import __version__
from harmonie.demo import DEFAULT_SIZES, SCENARIOS
from harmonie.errors import HarmonieError
from harmonie.output_flag import overwrite_option


class HarmonieGroup(click.Group):
    """A click group that reports every user error (bad option or bad input) as one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except HarmonieError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            message = exc.format_message()
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                message += f" (see {exc.ctx.command_path} --help)"
            click.echo(f"error: {message}", err=True)
            sys.exit(exc.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=HarmonieGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harmonie")
@click.option("-q", "--quiet", is_flag=True, help="Do not report progress on stderr.")
@click.option("--audit-log", type=click.Path(dir_okay=False), default=None, envvar="HARMONIE_AUDIT_LOG",
              help="Audit trail to append to [default: $HARMONIE_AUDIT_LOG, else ~/.local/state/harmonie/audit.jsonl].")
def root(quiet: bool, audit_log: str | None) -> None:
    """Harmonie: privacy-preserving record linkage and synthetic data for oncology real-world data.

    Outputs: every command refuses a non-empty output folder (or an existing output file)
    unless given --overwrite, which replaces the old output whole (nothing of it remains).
    """
    from harmonie import progress
    from privacy.audit import trail

    progress.set_enabled(not quiet)
    trail.set_log_path(audit_log)


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"),
              show_default=True, help="Folder for everything the demo produces, laid out by party.")
@click.option("--scale", type=click.Choice(list(DEFAULT_SIZES)), default="small", show_default=True,
              help="small: 10,000 x 150,000 (a few minutes); harmonie: 193,000 x 3,000,000; tiny: 1,500 x 20,000 "
                   "(seconds; too few patients for the default release policy).")
@click.option("--scenario", type=click.Choice(SCENARIOS), default="indirect", show_default=True,
              help="Which linkage spec the holders use.")
@click.option("--seed", type=int, default=0, show_default=True)
@overwrite_option()
@click.option("--policy", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Release policy for the gate (default: the built-in one).")
def demo(out_dir: Path, scale: str, scenario: str, seed: int, overwrite: bool, policy: Path | None) -> None:
    """Run the Harmonie pipeline end to end on embedded default data."""
    from harmonie.demo import PARTIES, run_demo

    result = run_demo(out_dir, scale=scale, scenario=scenario, seed=seed, overwrite=overwrite, policy=policy,
                      report=lambda line: click.echo(line))
    from rich.console import Console

    from linkage.datasets.summary import render_summary

    Console().print(render_summary(result["population"]))
    click.echo(f"demo outputs in {out_dir}/ ({', '.join(p + '/' for p in PARTIES)}); open {result['report']}")


def instrument(command: click.Command, prefix: str = "") -> None:
    """Audit every (sub)command of ``command`` except ``audit verify`` (reading the log is not an action on data):
    the audit trail (:func:`privacy.audit.trail.audited`) as middleware around each callback."""
    from privacy.audit.trail import audited

    name = f"{prefix} {command.name}".strip()
    if isinstance(command, click.Group):
        if command.callback and command.invoke_without_command:
            command.callback = audited(command.callback, name)
        for sub in command.commands.values():
            instrument(sub, name)
    elif command.callback and name != "audit verify":
        command.callback = audited(command.callback, name)


def app() -> click.Group:
    """The whole ``harmonie`` command line as one click group, every command instrumented (audit trail): what
    ``main`` runs, and what a test or an embedding program invokes (``CliRunner().invoke(app(), [...])``)."""
    from linkage.cli import commands as linkage_commands
    from privacy.cli import commands as privacy_commands
    from synth.cli import commands as synth_commands

    if not root.commands:
        for command in (*linkage_commands, *privacy_commands, *synth_commands, demo):
            instrument(command)
            root.add_command(command)
    return root


def main(argv: list[str] | None = None) -> None:
    app().main(args=argv, prog_name="harmonie")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
