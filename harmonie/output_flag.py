"""The ``--overwrite`` flag of every command that writes (the policy itself: :mod:`harmonie.output_set`).

Kept apart from :mod:`harmonie.output_set` so that declaring a command imports nothing heavy
(``harmonie --help`` stays fast).
"""

from __future__ import annotations

import click

OVERWRITE_HELP = ("Replace an existing output whole (without it a non-empty output folder is refused; nothing "
                  "of the previous output remains).")
OVERWRITE_FILE_HELP = "Replace an existing output file (without it an existing file is refused; never a key file)."


def overwrite_option(help: str = OVERWRITE_HELP):
    """``--overwrite``: the same name and meaning in every command."""
    return click.option("--overwrite", is_flag=True, help=help)
