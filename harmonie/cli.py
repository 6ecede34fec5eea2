"""The ``harmonie`` command: one root group assembling each package's commands.

Commands are thin: parse, call a library function, print. A :class:`HarmonieError` (bad
input, impossible parameters, unwritable output) becomes one line on stderr and exit
status 2, never a traceback.
"""

from __future__ import annotations

import sys

import click

from harmonie import __version__
from harmonie.errors import HarmonieError


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
    """Harmonie: privacy-preserving record linkage and synthetic data for oncology real-world data."""
    from harmonie import progress
    from privacy.audit import trail

    progress.set_enabled(not quiet)
    trail.set_log_path(audit_log)


def _assemble() -> click.Group:
    from harmonie.demo import demo
    from linkage.cli import commands as linkage_commands
    from privacy.audit.trail import instrument
    from privacy.cli import commands as privacy_commands
    from synth.cli import commands as synth_commands

    if not root.commands:
        for command in (*linkage_commands, *privacy_commands, *synth_commands, demo):
            instrument(command)
            root.add_command(command)
    return root


def main(argv: list[str] | None = None) -> None:
    _assemble().main(args=argv, prog_name="harmonie")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
