"""The ``deepprune`` command group.

Subcommands are imported only when invoked (or when help lists them), and each command module
imports torch, numba and matplotlib inside its function body, so ``deepprune --help`` stays instant.
Core exceptions are turned into one clear line on stderr and an exit code here, in one place.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from deepprune_cli import __version__

# name -> module under deepprune_cli.cli exposing a Click command called ``command``.
SUBCOMMANDS = {
    "simulate": "simulate",
    "shuffle": "shuffle",
    "train": "train",
    "prune": "prune",
    "evaluate": "evaluate",
    "logos": "logos",
}


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(f"deepprune_cli.cli.{module}") is not None


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is needed."""

    def list_commands(self, ctx):
        return [name for name, mod in SUBCOMMANDS.items() if _module_exists(mod)]

    def get_command(self, ctx, name):
        mod = SUBCOMMANDS.get(name)
        if mod is None or not _module_exists(mod):
            return None
        return importlib.import_module(f"deepprune_cli.cli.{mod}").command

    def main(self, args=None, prog_name=None, **extra):
        """Run the CLI; usage errors become one ``deepprune: error:`` line with exit code 2."""
        extra.pop("standalone_mode", None)
        try:
            result = super().main(args=args, prog_name=prog_name or "deepprune", standalone_mode=False, **extra)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # bare `deepprune`: show help, as usage
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) is not None else ""
            _fail(f"{where}{exc.format_message()}", exc.exit_code)
        except click.exceptions.Abort:
            _fail("aborted", 130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx):
        # Every error deepprune raises on purpose becomes one line and an exit code.
        from deepprune_cli.core.errors import DeeppruneError

        debug = ctx.params.get("debug", False)
        try:
            return super().invoke(ctx)
        except DeeppruneError as exc:
            if debug:
                raise
            _fail(str(exc), exc.exit_code)
        except MemoryError:
            if debug:
                raise
            _fail("out of memory", 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except OSError as exc:
            if debug:
                raise
            # Disk full, permission denied and the like: one line, runtime failure.
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            _fail(f"{where}{exc.strerror or exc}", 1)


def _fail(message: str, code: int) -> None:
    click.echo(f"deepprune: error: {message}", err=True)
    sys.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings become one plain line on stderr, never a source-code excerpt."""
    sys.stderr.write(f"deepprune: warning: {message}\n")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="deepprune")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def main(ctx, debug):
    """Train, prune and interpret motif-detecting CNNs on DNA sequences (Deepprune).

    Logs and progress go to stderr; data go to files or, with ``-o -``, to stdout.
    Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if not debug:
        warnings.showwarning = _show_warning
