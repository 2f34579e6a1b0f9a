"""The C kernels (``deepprune_cli.core._native``) against their numba references, byte for byte,
the fallback to numba when the extension cannot be imported, and what ``deepprune shuffle`` and
``deepprune train`` import."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import assert_clean_error, run_cli
from deepprune_cli.core import kernels
from deepprune_cli.core.sequences import BYTE_TO_TOKEN, LETTERS, N_TOKEN, format_fasta, parse_fasta_bytes

needs_c = pytest.mark.skipif("c" not in kernels.available(), reason="the C extension was not built")


def _records(draw, max_records=12, max_len=160, with_n=True):
    n = draw(st.integers(1, max_records))
    lengths = draw(st.lists(st.integers(0, max_len), min_size=n, max_size=n))
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    # letters from a small alphabet now and then, so that low-entropy and N-heavy records occur
    alphabet = draw(st.sampled_from([(0, 1, 2, 3), (0, 1), (2,), (0, 1, 2, 3, 4), (0, 4), (3, 3, 3, 4)]))
    if not with_n:
        alphabet = tuple(a for a in alphabet if a != 4) or (0, 1)
    seed = draw(st.integers(0, 2**32))
    tokens = np.random.default_rng(seed).choice(np.array(alphabet, np.uint8), size=int(offsets[-1]))
    return tokens.astype(np.uint8), offsets


@st.composite
def shuffle_cases(draw):
    tokens, offsets = _records(draw)
    return dict(
        tokens=tokens,
        offsets=offsets,
        k=draw(st.integers(1, 6)),
        copies=draw(st.integers(1, 3)),
        seed=draw(st.one_of(st.integers(0, 50), st.integers(0, 2**64 - 1))),
        first_record=draw(st.integers(0, 10**9)),
    )


def _shuffle(case, backend, threads):
    n = len(case["offsets"]) - 1
    out = np.empty(case["copies"] * int(case["offsets"][-1]), np.uint8)
    too_short = np.zeros(n, np.bool_)
    kernels.shuffle_records(case["tokens"], case["offsets"], case["k"], case["copies"], case["seed"],
                            case["first_record"], out, too_short, threads, backend=backend)
    return out, too_short


@needs_c
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=shuffle_cases(), threads=st.integers(1, 3))
def test_c_shuffles_are_the_numba_shuffles_byte_for_byte(case, threads):
    out_c, short_c = _shuffle(case, "c", threads)
    out_nb, short_nb = _shuffle(case, "numba", 1)
    assert out_c.tobytes() == out_nb.tobytes()
    assert short_c.tolist() == short_nb.tolist()


@needs_c
@pytest.mark.parametrize("k", range(1, 7))
def test_c_and_numba_agree_on_long_records_and_many_seeds(k):
    # Long records (thousands of letters, up to all 4**5 vertices used), odd lengths, N runs, and
    # a batch whose walks interleave in the C kernel's lanes with records of other lengths.
    rng = np.random.default_rng(k)
    lengths = np.array([5001, 1, 2, 3, 7, 4096, 101, 101, 101, 101, 99, 333], np.int64)
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = rng.integers(0, 4, size=int(offsets[-1])).astype(np.uint8)
    tokens[rng.random(len(tokens)) < 0.01] = N_TOKEN
    for seed in (0, 1, 2**63 + 5, 2**64 - 1):
        case = dict(tokens=tokens, offsets=offsets, k=k, copies=2, seed=seed, first_record=3)
        out_c, short_c = _shuffle(case, "c", 2)
        out_nb, short_nb = _shuffle(case, "numba", 2)
        assert out_c.tobytes() == out_nb.tobytes(), seed
        assert short_c.tolist() == short_nb.tolist()
        assert out_c[:5001].tobytes() != tokens[:5001].tobytes()  # the long record did change


@needs_c
def test_c_shuffle_refuses_a_non_token_and_wrong_dtypes():
    offsets = np.array([0, 5], np.int64)
    out, short = np.empty(5, np.uint8), np.zeros(1, np.bool_)
    with pytest.raises(ValueError, match="0..4"):
        kernels.shuffle_records(np.array([0, 1, 9, 2, 3], np.uint8), offsets, 2, 1, 0, 0, out, short, backend="c")
    with pytest.raises(TypeError, match="offsets"):
        kernels.shuffle_records(np.zeros(5, np.uint8), offsets.astype(np.int32), 2, 1, 0, 0, out, short, backend="c")


# -- FASTA ----------------------------------------------------------------------------------------

LINE_PIECES = [b"ACGT", b"acgtn", b"NNNN", b"RYKM", b"ACG\r", b"A C\tG", b"", b"ACGTX", b"AC-GT", b"\xc3\xa9", b"*"]


@st.composite
def fasta_bytes(draw):
    records = []
    for r in range(draw(st.integers(1, 8))):
        header = draw(st.sampled_from([b"r%d" % r, b"r%d desc label=1" % r, b"r%d\r" % r, b"", b"r%d\tx" % r]))
        lines = draw(st.lists(st.sampled_from(LINE_PIECES), max_size=4))
        records.append(b">" + header + b"\n" + b"".join(line + b"\n" for line in lines))
    return b"".join(records)


def _scan(data: bytes, backend: str):
    buf = np.frombuffer(data, np.uint8)
    tokens = np.zeros(len(buf), np.uint8)
    n, h_start, h_end, lengths, n_tokens, n_iupac, bad_record, bad_pos, bad_byte = kernels.scan_fasta(
        buf, BYTE_TO_TOKEN, data.count(b">"), tokens, backend=backend
    )
    headers = np.zeros(int((h_end[:n] - h_start[:n]).sum()) + n, np.uint8)
    written = kernels.gather_headers(buf, h_start, h_end, n, headers, backend=backend)
    return (n, h_start[:n].tolist(), h_end[:n].tolist(), lengths[:n].tolist(), int(n_tokens), int(n_iupac),
            int(bad_record), int(bad_pos), int(bad_byte), tokens[:n_tokens].tobytes(), headers[:written].tobytes())


@needs_c
@settings(max_examples=300, deadline=None)
@given(data=fasta_bytes())
def test_c_fasta_scan_is_the_numba_scan(data):
    # invalid letters (X, '-', '*', UTF-8), CRLF, IUPAC codes, white space, empty records
    assert _scan(data, "c") == _scan(data, "numba")
    assert kernels.count_byte(data, 62, backend="c") == kernels.count_byte(data, 62, backend="numba") == data.count(b">")


@needs_c
@settings(max_examples=100, deadline=None)
@given(data=fasta_bytes(), copies=st.integers(1, 3))
def test_c_rendering_is_the_numba_rendering(data, copies):
    buf = np.frombuffer(data, np.uint8)
    tokens = np.random.default_rng(len(data)).integers(0, 5, size=copies * 50).astype(np.uint8)
    offsets = np.array([0, 10, 10, 37, 50], np.int64)
    id_blob = np.frombuffer(b"a\nbb\n\nlonger id\n", np.uint8)
    id_offsets = np.array([0, 2, 5, 6, 16], np.int64)
    suffix_blob = np.frombuffer(b"".join(b"_s%d" % c for c in range(copies)) or b"", np.uint8)
    suffix_offsets = np.arange(copies + 1, dtype=np.int64) * 3
    size = copies * (len(id_blob) + 2 * 4 + 50) + 4 * len(suffix_blob) + len(buf)
    texts = []
    for backend in ("c", "numba"):
        text = np.zeros(size, np.uint8)
        written = kernels.render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets, LETTERS,
                                        text, backend=backend)
        texts.append(text[:written].tobytes())
    assert texts[0] == texts[1]
    assert texts[0].startswith(b">a_s0\n")


@needs_c
def test_parsed_and_formatted_fasta_is_the_same_on_both_backends(monkeypatch):
    data = b">a label=1\r\nACGTRY\r\nnnac\r\n>b label=0\nAC GT\n\n>c label=1\nT\n"
    results = []
    for backend in ("c", "numba"):
        monkeypatch.setenv(kernels.ENV, backend)
        with pytest.warns(UserWarning, match="2 IUPAC"):
            s = parse_fasta_bytes(data, "x.fa")
        results.append((s.ids, s.tokens.tobytes(), s.offsets.tolist(), s.labels.tolist(), format_fasta(s)))
    assert results[0] == results[1]
    assert results[0][0] == ["a", "b", "c"]


# -- the fused first layer -----------------------------------------------------------------------


@st.composite
def first_layer_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32)))
    # every kernel count the C forward compiles a path for (K2 = K or 2K up to 16, 32), then around
    # its chunk of 128
    K = draw(st.sampled_from([*range(1, 17), 63, 64, 65, 129, 256]))
    W = draw(st.integers(1, 30))
    L = W + draw(st.integers(0, 160))
    B = draw(st.integers(0, 40))
    weight = rng.normal(size=(K, 4, W)).astype(np.float32)
    if draw(st.booleans()):  # ties: a max reached at several windows goes to the first of them
        weight = np.round(weight).astype(np.float32)
    return dict(weight=weight, bias=rng.normal(size=K).astype(np.float32),
                tokens=rng.integers(0, draw(st.sampled_from([1, 4, 5])), size=(B, L)).astype(np.uint8),
                grad=(rng.normal(size=(B, K)) * (rng.random((B, K)) < 0.7)).astype(np.float32),
                both=draw(st.booleans()), relu=draw(st.booleans()), g=draw(st.integers(1, 4)))


def _bits(*arrays):
    return [(a.dtype.str, a.shape, a.tobytes()) for a in arrays]


@needs_c
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=first_layer_cases(), threads=st.integers(1, 3))
def test_c_first_layer_is_the_numba_first_layer_bit_for_bit(case, threads):
    c = dict(weight=case["weight"], both=case["both"], g=case["g"])
    table = kernels.first_layer_table(**c, backend="c")
    assert _bits(table) == _bits(kernels.first_layer_table(**c, backend="numba"))
    assert table.ctypes.data % 64 == 0  # rows start on cache lines (see kernels._aligned_empty)
    W = case["weight"].shape[2]
    fwd = [kernels.first_layer_forward(case["tokens"], table, case["g"], W, case["bias"], case["relu"],
                                       threads=t, backend=b) for t, b in ((threads, "c"), (2, "numba"))]
    assert _bits(*fwd[0]) == _bits(*fwd[1])
    out, arg, strand = fwd[0]
    bwd = [kernels.first_layer_backward(case["tokens"], arg, strand, case["grad"], W, threads=t, backend=b)
           for t, b in ((threads, "c"), (1, "numba"))]
    assert _bits(*bwd[0]) == _bits(*bwd[1])


@needs_c
@pytest.mark.parametrize("both", [False, True])
def test_every_compiled_kernel_count_of_the_c_forward_is_numba_s(both):
    # K2 = 1..17 and 31..33 columns: each case of the C forward's compile-time switch, and its edges
    rng = np.random.default_rng(5)
    for K in [*range(1, 18), 31, 32, 33] if not both else [*range(1, 10), 15, 16, 17]:
        W, L = 11, 60
        weight = rng.normal(size=(K, 4, W)).astype(np.float32)
        weight[K // 2] = weight[0]  # a tie between kernels
        bias = rng.normal(size=K).astype(np.float32)
        tokens = rng.integers(0, 5, size=(9, L)).astype(np.uint8)
        table = kernels.first_layer_table(weight, both, 3, backend="c")
        fwd = [kernels.first_layer_forward(tokens, table, 3, W, bias, True, threads=2, backend=b) for b in ("c", "numba")]
        assert _bits(*fwd[0]) == _bits(*fwd[1]), K


@needs_c
def test_c_first_layer_is_the_torch_convolution_and_refuses_a_non_token():
    import torch

    from deepprune_cli.core.first_layer import conv_onehot, reverse_complement_weight

    rng = np.random.default_rng(3)
    w = rng.normal(size=(6, 4, 9)).astype(np.float32)
    tokens = rng.integers(0, 5, size=(50, 40)).astype(np.uint8)
    out, arg, strand = kernels.first_layer_forward(tokens, kernels.first_layer_table(w, True, 3), 3, 9,
                                                   np.zeros(6, np.float32), False, backend="c")
    wt = torch.from_numpy(w)
    ref = conv_onehot(torch.from_numpy(tokens), torch.cat([wt, reverse_complement_weight(wt)]), None)
    both = torch.maximum(ref[:, :6], ref[:, 6:]).amax(2)
    np.testing.assert_allclose(out, both.numpy(), rtol=1e-5, atol=1e-5)
    assert arg.min() >= 0 and arg.max() <= 40 - 9 and set(np.unique(strand)) <= {0, 1}
    tokens[7, 3] = 5  # PAD is not a token the fused layer reads
    with pytest.raises(ValueError, match="tokens must be 0..4"):
        kernels.first_layer_forward(tokens, kernels.first_layer_table(w, True, 3), 3, 9, np.zeros(6, np.float32),
                                    False, backend="c")
    with pytest.raises(TypeError, match="contiguous float32"):
        kernels.first_layer_table(w.astype(np.float64), True, 3, backend="c")


# -- backend choice, fallback, imports -----------------------------------------------------------

SHOW_MODULES = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nMODULES ' + ','.join(m for m in ('numba', 'torch') "
    "if m in sys.modules) + '\\n'))\n"
    "{block}"
    "from deepprune_cli.cli.main import main\n"
    "main(sys.argv[1:])\n"
)
# importing a module that sys.modules maps to None raises ImportError: the extension is "missing"
BLOCK_NATIVE = "sys.modules['deepprune_cli.core._native'] = None\n"


def _run(args, block="", env=None):
    code = SHOW_MODULES.format(block=block)
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          env={**os.environ, **(env or {})})
    err = proc.stderr.decode()
    modules = err.rsplit("MODULES ", 1)[1].split()[0:1] if "MODULES " in err else None
    return proc, (modules[0].split(",") if modules else [])


@pytest.fixture()
def small_fasta(tmp_path):
    rng = np.random.default_rng(5)
    text = b"".join(b">s%d\n%s\n" % (i, LETTERS[rng.integers(0, 5, size=int(rng.integers(3, 150)))].tobytes())
                    for i in range(3000))
    path = tmp_path / "in.fa"
    path.write_bytes(text)
    return path


@needs_c
def test_shuffle_command_imports_neither_numba_nor_torch_and_matches_numba(tmp_path, small_fasta):
    proc, modules = _run(["shuffle", small_fasta, "-o", tmp_path / "c.fa", "--seed", 4, "-n", 2])
    assert proc.returncode == 0, proc.stderr
    assert modules == [], modules
    proc, modules = _run(["shuffle", small_fasta, "-o", tmp_path / "nb.fa", "--seed", 4, "-n", 2],
                         env={kernels.ENV: "numba"})
    assert proc.returncode == 0, proc.stderr
    assert "numba" in modules
    assert (tmp_path / "c.fa").read_bytes() == (tmp_path / "nb.fa").read_bytes()


def test_without_the_extension_numba_runs_and_gives_the_same_bytes(tmp_path, small_fasta):
    proc, modules = _run(["shuffle", small_fasta, "-o", tmp_path / "fallback.fa", "--seed", 4, "-k", 3],
                         block=BLOCK_NATIVE)
    assert proc.returncode == 0, proc.stderr
    assert "numba" in modules
    version, _ = _run(["--version"], block=BLOCK_NATIVE)
    assert b"(kernels: numba; C extension not available" in version.stdout
    if "c" in kernels.available():
        proc, _ = _run(["shuffle", small_fasta, "-o", tmp_path / "c.fa", "--seed", 4, "-k", 3])
        assert (tmp_path / "c.fa").read_bytes() == (tmp_path / "fallback.fa").read_bytes()
    # asking for C without it: one line, exit 2, nothing written
    proc, _ = _run(["shuffle", small_fasta, "-o", tmp_path / "none.fa"], block=BLOCK_NATIVE,
                   env={kernels.ENV: "c"})
    assert proc.returncode == 2
    assert "DEEPPRUNE_KERNELS=c but the C extension not available" in proc.stderr.decode()
    assert not (tmp_path / "none.fa").exists()


@needs_c
def test_train_runs_without_numba_and_gives_numba_s_weights(tmp_path):
    """A torch command on the C kernels never imports numba (~0.7 s of start-up), and the numba
    fallback trains the same model bit for bit."""
    data = os.path.join(os.path.dirname(__file__), "data", "encode_REST_AC_slice.seq.gz")
    weights = {}
    for backend in ("c", "numba"):
        proc, modules = _run(["train", data, "-o", tmp_path / backend, "--kernels", 4, "--epochs", 2,
                              "--seed", 2, "--threads", 2, "-q"], env={kernels.ENV: backend})
        assert proc.returncode == 0, proc.stderr
        assert ("numba" in modules) == (backend == "numba"), modules
        weights[backend] = (tmp_path / backend / "weights.pt").read_bytes()
    assert weights["c"] == weights["numba"]


def test_a_bad_kernel_choice_is_one_line_exit_2(tmp_path, small_fasta, monkeypatch):
    monkeypatch.setenv(kernels.ENV, "fortran")
    proc = run_cli("shuffle", small_fasta, "-o", tmp_path / "out.fa")
    assert_clean_error(proc, "DEEPPRUNE_KERNELS must be auto, c or numba, got 'fortran'")
    assert not (tmp_path / "out.fa").exists()


def test_version_names_the_kernels(monkeypatch):
    monkeypatch.setenv(kernels.ENV, "numba")
    assert run_cli("--version").stdout.decode().strip().endswith("(kernels: numba)")
    if "c" in kernels.available():
        monkeypatch.setenv(kernels.ENV, "auto")
        assert run_cli("--version").stdout.decode().strip().endswith("(kernels: c)")
