"""The ``deepprune`` command group.

Subcommands are imported only when invoked (or when help lists them), and each command module
imports torch, numba and matplotlib inside its function body, so ``deepprune --help`` stays instant.
Core exceptions are turned into one clear line on stderr and an exit code here, in one place.

Signals: SIGINT raises ``KeyboardInterrupt`` (exit 130) and SIGTERM raises
:class:`~deepprune_cli.cli.common.Terminated` (exit 143 = 128 + 15) in the main thread, so the stack
unwinds and every atomic writer removes its temporary file or directory before the process exits
(without a handler, SIGTERM would end Python at once, leaving them behind). A second signal within
``REPEAT_GRACE_S`` is ignored so that cleanup can finish; SIGKILL cannot be caught, which is what
``prune --resume`` is for.
"""

from __future__ import annotations

import _thread
import atexit
import importlib
import importlib.util
import os
import signal
import sys
import threading
import time
import warnings

import click

from deepprune_cli import __version__
from deepprune_cli.cli.common import Terminated

# name -> module under deepprune_cli.cli exposing a Click command called ``command``.
SUBCOMMANDS = {
    "simulate": "simulate",
    "shuffle": "shuffle",
    "train": "train",
    "prune": "prune",
    "evaluate": "evaluate",
    "logos": "logos",
    "report": "report",
    "predict": "predict",
    "scan": "scan",
    "mutate": "mutate",
}

# Signals the CLI's handler turned into exceptions in this process: (signal number, monotonic time).
_received: list[tuple[int, float]] = []
# A second signal this soon after the first is part of the same burst (the terminal's SIGINT and a
# workflow manager's SIGTERM) and is ignored, so the cleanup the first one started can finish; a
# later one raises again, in case the first was swallowed (e.g. raised inside a finaliser).
REPEAT_GRACE_S = 3.0


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
        restore = _install_signal_handlers()
        try:
            result = super().main(args=args, prog_name=prog_name or "deepprune", standalone_mode=False, **extra)
        except Terminated:  # outside a command (e.g. while parsing options)
            _fail("terminated", 143)
        except click.exceptions.Abort:  # Click's wrapping of a KeyboardInterrupt outside a command
            _fail("interrupted", 130)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message(), err=True)  # bare `deepprune`: show help, as usage
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            where = f"{exc.ctx.command_path}: " if getattr(exc, "ctx", None) is not None else ""
            _fail(f"{where}{exc.format_message()}", exc.exit_code)
        finally:
            restore()
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx):
        # Every error deepprune raises on purpose becomes one line and an exit code.
        from deepprune_cli.core.errors import DeeppruneError

        debug = ctx.params.get("debug", False)
        try:
            return super().invoke(ctx)
        except (SystemExit, click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise  # handled in main()
        except BaseException as exc:
            # SIGINT/SIGTERM first: whatever exception the interrupt surfaced as, it ends the run.
            interruption = _interruption(exc)
            if interruption is not None:
                word, code = interruption
                _fail(_interrupt_message(word, exc), code)
            if debug:
                raise
            if isinstance(exc, DeeppruneError):
                _fail(str(exc), exc.exit_code)
            if isinstance(exc, MemoryError):
                _fail("out of memory", 1)
            if isinstance(exc, OSError):
                # Disk full, permission denied and the like: one line, runtime failure.
                where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
                _fail(_interrupt_message(f"{where}{exc.strerror or exc}", exc), 1)
            raise


def _interruption(exc: BaseException) -> tuple[str, int] | None:
    """``(word, exit code)`` when ``exc`` ends the command because of SIGINT or SIGTERM, else None.

    A signal's exception raised inside a callback from C code can reach us as another exception:
    numba's dispatcher, for one, turns it into a ``SystemError`` caused by the interrupt. So the
    exception's chain is searched, and any exception after a received signal counts as it.
    """
    seen = set()
    e = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt):
            return "interrupted", 130
        if isinstance(e, Terminated):
            return "terminated", 143
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    if _received:
        return ("interrupted", 130) if _received[0][0] == signal.SIGINT else ("terminated", 143)
    return None


def _interrupt_message(what: str, exc: BaseException) -> str:
    hint = getattr(exc, "deepprune_hint", None)
    return f"{what}; {hint}" if hint else what


def _install_signal_handlers():
    """Turn SIGINT and SIGTERM into exceptions in the main thread; return a function that restores
    the previous handlers (the CLI also runs in-process, e.g. under Click's CliRunner).

    Only default dispositions are replaced: a signal the parent set to be ignored (``nohup``,
    background jobs) stays ignored. The first signal raises; another within ``REPEAT_GRACE_S`` is
    ignored, so that the cleanup it started (removing temporary files) is not cut short by, say, a
    workflow manager's SIGTERM following the terminal's SIGINT.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    _received.clear()
    redeliver = []  # set when a signal's exception was swallowed: raise it again, grace or not

    def handler(signum, frame):
        now = time.monotonic()
        if redeliver:
            redeliver.clear()
            signum = _received[0][0]
        elif _received and now - _received[-1][1] < REPEAT_GRACE_S:
            return
        else:
            _received.append((signum, now))
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated()

    # A handler's exception raised while a C library runs a Python callback is swallowed there
    # ("Exception ignored on calling ctypes callback function"): seen when SIGTERM arrived while
    # numba's llvmlite compiled a kernel, and the run then carried on. Such an exception is
    # delivered again to the main thread, where it unwinds the run as usual.
    previous_hook = sys.unraisablehook

    def unraisable(info):
        if isinstance(info.exc_value, (KeyboardInterrupt, Terminated)) and _received:
            redeliver.append(True)
            # a moment later, from another thread: the main thread then runs the handler at its next
            # step after the callback (raised from here it would be lost again; if it lands in
            # another callback, this hook sends it once more)
            timer = threading.Timer(0.01, _thread.interrupt_main, args=(_received[0][0],))
            timer.daemon = True
            timer.start()
            return
        previous_hook(info)

    previous = {}
    for sig, default in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, signal.SIG_DFL)):
        current = signal.getsignal(sig)
        if current is default:
            previous[sig] = current
            signal.signal(sig, handler)
    if previous:
        sys.unraisablehook = unraisable

    def restore():
        for sig, old in previous.items():
            signal.signal(sig, old)
        if previous:
            sys.unraisablehook = previous_hook

    return restore


def run(args: list[str] | None = None) -> None:
    """The program's entry point (the ``deepprune`` script and ``python -m deepprune_cli``):
    :func:`main`, then :func:`quick_exit`. Library callers and tests call ``main`` itself."""
    try:
        main(args=args, prog_name="deepprune")
    except SystemExit as exc:
        quick_exit(exc.code)


def quick_exit(code) -> None:
    """End the process with ``code`` without the interpreter's teardown of torch's modules.

    Tearing down an interpreter that imported torch takes ~0.25 s (a 300-record ``train``: 1.25
    instead of 1.49 s, farm-bench), a cost every step of a workflow pays. Everything a normal exit
    does that matters still happens first: the ``atexit`` handlers (logging's flush among them) and
    a flush of stdout and stderr. Every output file is closed by then (atomic writers rename
    closed files). Without torch loaded, with a message for an exit code, with another
    non-daemon thread alive, or when a flush fails (a closed pipe), it is a plain ``sys.exit``.
    """
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon and t.is_alive()]
    if "torch" not in sys.modules or not (code is None or isinstance(code, int)) or others:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        sys.exit(code)  # let the interpreter report and handle the stream as it would
    os._exit(code or 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"deepprune: error: {message}", err=True)
    sys.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings become one plain line on stderr, never a source-code excerpt."""
    sys.stderr.write(f"deepprune: warning: {message}\n")


def _print_version(ctx, param, value):
    """``deepprune, version X (kernels: c)``: the kernels that shuffle and read FASTA, ``c`` (the
    compiled extension) or ``numba`` (with why the extension is missing), for bug reports."""
    if not value or ctx.resilient_parsing:
        return
    from deepprune_cli.core import kernels

    click.echo(f"deepprune, version {__version__} ({kernels.describe()})")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-V", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and which compiled kernels run (c or numba), and exit.")
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
