"""The package as users get it: the public API of ``deepprune_cli.core``, light imports, one version.

The wheel itself is built and run outside the checkout by ``.ci/wheel-check`` (called by .ci/run).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import deepprune_cli
import deepprune_cli.core as core

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "numba", "matplotlib", "sklearn", "scipy", "logomaker", "memelite")
# Core modules that are implementation details of another module, not part of the public map.
INTERNAL_MODULES = {"fasta_kernels", "shuffle_kernels", "first_layer_kernels", "_native"}


def test_every_exported_name_resolves_and_is_documented():
    assert len(set(core.__all__)) == len(core.__all__)
    for name in core.__all__:
        obj = getattr(core, name)
        if inspect.ismodule(obj) or inspect.isfunction(obj) or inspect.isclass(obj):
            assert (obj.__doc__ or "").strip(), f"deepprune_cli.core.{name} has no docstring"
    assert set(dir(core)) >= set(core.__all__)


def test_exported_names_live_in_the_module_the_map_says():
    for module, names in core._EXPORTS.items():
        mod = importlib.import_module(f"deepprune_cli.core.{module}")
        for name in names:
            assert getattr(core, name) is getattr(mod, name)


def test_no_exported_name_shadows_a_module():
    # Importing deepprune_cli.core.X sets attribute X on the package; an exported function named X
    # would be replaced by the module.
    modules = {m.name for m in pkgutil.iter_modules(core.__path__)}
    assert not modules & set(core._HOME)


def test_every_core_module_is_on_the_map():
    modules = {m.name for m in pkgutil.iter_modules(core.__path__)}
    assert modules - INTERNAL_MODULES == set(core.MODULES)
    assert "Modules, one idea each" in core.__doc__
    for module in core.MODULES:
        assert re.search(rf"^{module}\s", core.__doc__, flags=re.M), f"{module} missing from the module map"


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError):
        core.no_such_thing  # noqa: B018


@pytest.mark.parametrize(
    "code",
    [
        "import deepprune_cli.core",
        "from deepprune_cli.core import errors, atomic",
        "from deepprune_cli.cli.main import main",
    ],
)
def test_imports_stay_light(code):
    probe = f"import sys; {code}; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def test_lazy_name_pulls_in_only_its_module():
    probe = "import sys; from deepprune_cli.core import read_sequences; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _changelog_release() -> str:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    match = re.search(r"^## (\d+\.\d+\.\d+) — \d{4}-\d{2}-\d{2}$", text, flags=re.M)
    assert match, "CHANGELOG.md has no release heading '## X.Y.Z — YYYY-MM-DD'"
    return match.group(1)


def test_versions_agree():
    cli = subprocess.run(
        [sys.executable, "-m", "deepprune_cli", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert re.fullmatch(rf"deepprune, version {re.escape(deepprune_cli.__version__)} \(kernels: (c|numba)[^)]*\)", cli.strip())
    assert importlib.metadata.version("deepprune") == deepprune_cli.__version__
    assert _changelog_release() == deepprune_cli.__version__


def test_log_lines_do_not_wrap_when_stderr_is_a_file(tmp_path):
    # A workflow's log file: stderr is not a terminal, COLUMNS is unset.
    code = (
        "from deepprune_cli.cli.common import console\n"
        "from rich.table import Table\n"
        "c = console()\n"
        "c.print('test AUROC 0.9730 (30 epochs, 1.3 s) ' + 'x' * 120)\n"
        "t = Table('stage', 'kernels', 'variant', 'criterion', 'epochs', 'val AUROC', 'test AUROC', 'test AUPRC', 'seconds')\n"
        "t.add_row('round6_deepprune', '4', 'deepprune', 'loss', '60', '0.9512', '0.9548', '0.9602', '12.3')\n"
        "c.print(t)\n"
    )
    log = tmp_path / "log.txt"
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("COLUMNS", "LINES")}
    with open(log, "w") as fh:
        subprocess.run([sys.executable, "-c", code], stderr=fh, env=env, check=True)
    lines = log.read_text().splitlines()
    assert lines[0] == "test AUROC 0.9730 (30 epochs, 1.3 s) " + "x" * 120
    assert any("round6_deepprune" in line and "0.9548" in line and "12.3" in line for line in lines)


def test_cli_runs_without_the_editable_install_hooks(tmp_path):
    # `python -S` skips site-packages' .pth files, so the editable install's import hook (which
    # imports importlib.util, among others, and once hid a missing import) is not there: the CLI
    # must start from the plain source tree and the installed dependencies, as from a wheel.
    import sysconfig

    paths = [str(ROOT), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    code = (
        f"import sys; sys.path[:0] = {paths!r}; sys.argv = ['deepprune', 'simulate', '--help'];"
        "from deepprune_cli.cli.main import main; main()"
    )
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Usage: deepprune simulate" in proc.stdout


QUICK_EXIT_PROBE = """
import atexit, sys, threading
marker = sys.argv[1]
atexit.register(lambda: open(marker, "w").write("atexit ran"))
sys.stdout.write("unflushed line")  # no newline, no flush: the quick exit must flush it
{extra}
from deepprune_cli.cli.main import run
run(sys.argv[2:])
"""


@pytest.mark.parametrize("case", ["torch-command", "torch-command-error", "other-thread"])
def test_the_entry_point_exits_quickly_but_completely(tmp_path, case):
    """After a torch command the entry point skips the interpreter's teardown (os._exit), yet runs
    the atexit handlers, flushes stdout and keeps the exit code; a live non-daemon thread gets the
    ordinary exit (which waits for it)."""
    data = ROOT / "tests" / "data" / "encode_REST_AC_slice.seq.gz"
    args = ["train", data, "-o", tmp_path / "m", "--kernels", 2, "--epochs", 1, "--seed", 1, "-q"]
    extra = ""
    if case == "torch-command-error":
        args = ["train", data, "-o", tmp_path / "m", "--arch", "no_such_arch", "-q"]
    if case == "other-thread":
        extra = "threading.Thread(target=lambda: __import__('time').sleep(1) or open(marker + '.thread', 'w').close()).start()"
    marker = tmp_path / "marker"
    proc = subprocess.run([sys.executable, "-c", QUICK_EXIT_PROBE.format(extra=extra), marker, *map(str, args)],
                          capture_output=True, text=True)
    assert proc.returncode == (2 if case == "torch-command-error" else 0), proc.stderr
    assert proc.stdout == "unflushed line"
    assert marker.read_text() == "atexit ran"
    if case == "torch-command":
        assert (tmp_path / "m" / "weights.pt").stat().st_size > 0
    if case == "torch-command-error":
        assert proc.stderr.startswith("deepprune: error:") and "no_such_arch" in proc.stderr
    if case == "other-thread":
        assert (tmp_path / "marker.thread").exists()  # the plain exit waited for it
