"""``deepprune shuffle`` and the CLI's shared behaviour, through a real subprocess."""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import time

import pytest

from conftest import as_in_a_terminal, assert_clean_error, run_cli
from deepprune_cli.core.sequences import parse_fasta_bytes, read_sequences
from deepprune_cli.core.shuffle import klet_counts


def test_shuffle_real_deepbind_file_to_file(tmp_path, data_dir):
    out = tmp_path / "neg.fa"
    proc = run_cli("shuffle", data_dir / "seq_CTCFL_B_slice.seq.gz", "-o", out, "--seed", 7)
    assert proc.returncode == 0, proc.stderr_text
    assert proc.stdout == b""
    src = read_sequences(data_dir / "seq_CTCFL_B_slice.seq.gz")
    shuf = read_sequences(out)
    assert shuf.ids == [i + "_shuf" for i in src.ids]
    for i in range(len(src)):
        assert klet_counts(shuf.sequence(i), 2) == klet_counts(src.sequence(i), 2)
    assert sum(shuf.text(i) != src.text(i) for i in range(len(src))) > 70


def test_same_seed_same_bytes_and_stdin_stdout(tmp_path):
    fasta = b">a\nACGTTGCAACGTAGCTAGCTAGGATCGATCGA\n>b\nTTGACCANNNNGGATCCAGTTGACA\n"
    runs = [run_cli("shuffle", "-", "--seed", 3, "-n", 4, input=fasta) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs)
    assert runs[0].stdout == runs[1].stdout
    out = parse_fasta_bytes(runs[0].stdout)
    assert out.ids == [f"{x}_shuf{c}" for x in "ab" for c in range(1, 5)]
    assert run_cli("shuffle", "-", "--seed", 4, input=fasta).stdout != runs[0].stdout[:100]


def test_k3_and_tag(tmp_path):
    p = tmp_path / "x.fa.gz"
    p.write_bytes(gzip.compress(b">r1\nACGTACGGTACGATCGATCGGGATCGATTAGC\n"))
    proc = run_cli("shuffle", p, "-k", 3, "--tag", "_k3")
    assert proc.returncode == 0
    s = parse_fasta_bytes(proc.stdout)
    assert s.ids == ["r1_k3"]
    src = read_sequences(p)
    assert klet_counts(s.sequence(0), 3) == klet_counts(src.sequence(0), 3)


def test_too_short_warning_is_one_line(tmp_path):
    proc = run_cli("shuffle", "-", input=b">a\nAC\n>b\nACGTGCATGCA\n>c\nG\n")
    assert proc.returncode == 0
    warns = [line for line in proc.stderr_text.splitlines() if "warning" in line]
    assert len(warns) == 1 and "2 sequence(s) too short" in warns[0]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty"),
        (b"\x00\x01\x02binary", "NUL"),
        (b"ACGT\nACGT\n", "not FASTA"),
        (b">a\nACGU\n", "record 'a' position 4"),
        (b">a\nACGT\n>a\nACGT\n", "duplicate record id"),
    ],
)
def test_bad_inputs_exit_2_one_line_no_output(tmp_path, content, fragment):
    p = tmp_path / "in.fa"
    p.write_bytes(content)
    out = tmp_path / "out.fa"
    proc = run_cli("shuffle", p, "-o", out)
    assert_clean_error(proc, fragment)
    assert not out.exists()
    assert [f.name for f in tmp_path.iterdir()] == ["in.fa"]  # no temp file left behind


def test_missing_file_truncated_gzip_and_bad_options(tmp_path):
    assert_clean_error(run_cli("shuffle", tmp_path / "nope.fa"), "no such file")
    bad = tmp_path / "t.fa.gz"
    bad.write_bytes(gzip.compress(b">a\nACGT\n" * 200)[:-15])
    assert_clean_error(run_cli("shuffle", bad), "truncated gzip")
    assert_clean_error(run_cli("shuffle", bad, "-k", 9), "-k")
    assert_clean_error(run_cli("shuffle", bad, "-n", 0), "--copies")
    assert_clean_error(run_cli("nosuchcommand"), "No such command")


def test_help_and_version_are_fast():
    for args in (["--help"], ["--version"], ["shuffle", "--help"]):
        start = time.perf_counter()
        proc = run_cli(*args)
        elapsed = time.perf_counter() - start
        assert proc.returncode == 0
        # generous bound for a loaded CI machine; the budget is interpreter start + click
        assert elapsed < 3.0, (args, elapsed)


def test_help_imports_no_heavy_modules():
    import subprocess
    import sys

    code = (
        "import sys; from deepprune_cli.cli.main import main, SUBCOMMANDS;"
        "from click.testing import CliRunner;"
        "r = CliRunner();"
        "[r.invoke(main, [c, '--help']) for c in ['--help'] + list(main.list_commands(None))];"
        "heavy = [m for m in ('torch', 'numba', 'matplotlib', 'sklearn', 'scipy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


@pytest.mark.parametrize("late_error", ["letter", "gzip"])
def test_error_late_in_a_streamed_input_leaves_no_output(tmp_path, late_error):
    # ~6 MB: the bad record lies in a later chunk than the first, after output was written.
    body = b"".join(b">s%d\n%s\n" % (i, b"ACGTTGCAAC" * 10) for i in range(60_000))
    if late_error == "letter":
        p = tmp_path / "in.fa"
        p.write_bytes(body + b">bad\nACGTXACGT\n")
        fragment = "record 'bad' position 5"
    else:
        p = tmp_path / "in.fa.gz"
        p.write_bytes(gzip.compress(body, compresslevel=1)[:-40])
        fragment = "truncated gzip"
    out = tmp_path / "out.fa"
    proc = run_cli("shuffle", p, "-o", out)
    assert_clean_error(proc, fragment)
    assert sorted(f.name for f in tmp_path.iterdir()) == [p.name]  # no output, no temp file left behind


@pytest.mark.parametrize("sig, code, word", [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])
def test_a_signal_mid_stream_leaves_no_output(tmp_path, sig, code, word):
    # Chunks have gone through the shuffling thread into the temporary output, more input is still
    # to come (stdin stays open): the signal ends the run, nothing is left under any name.
    body = b"".join(b">s%d\n%s\n" % (i, b"ACGTTGCAAC" * 10) for i in range(100_000))  # ~11 MB: 3 chunks
    proc = subprocess.Popen([sys.executable, "-m", "deepprune_cli", "shuffle", "-", "-o", str(tmp_path / "out.fa")],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=as_in_a_terminal)
    try:
        proc.stdin.write(body)
        proc.stdin.flush()
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size > 0 for p in tmp_path.iterdir()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.02)
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err, err
    assert [ln for ln in err.splitlines() if ln.startswith("deepprune: error:")] == [f"deepprune: error: {word}"], err
    assert list(tmp_path.iterdir()) == []
