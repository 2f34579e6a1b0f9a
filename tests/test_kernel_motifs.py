"""The kernels -> motifs pipeline as a library call (``core.kernel_motifs``), the home of ``logos``."""

from __future__ import annotations

import dataclasses

import pytest

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.kernel_motifs import MotifOptions, default_output_paths, extract_motifs
from test_cli_logos import full_run, planted  # noqa: F401  (fixtures: a planted CTCF/MAX model and its logos run)


def test_library_call_writes_what_the_command_writes(full_run, planted, tmp_path):  # noqa: F811
    """The command only parses options: the same call from Python gives the same bytes."""
    from deepprune_cli.core.sequences import read_sequences
    from deepprune_cli.core.store import load_model

    proc, _, out = full_run
    assert proc.returncode == 0, proc.stderr_text
    found = extract_motifs(
        load_model(planted / "model"), read_sequences(planted / "seqs.fa"), MotifOptions(seed=1),
        match_db="jaspar2020", truth=planted / "truth.meme",
    )  # fmt: skip
    paths = default_output_paths(tmp_path / "motifs.meme", matching=True, truths=True)
    found.write(**paths)
    for name in ("motifs.meme", "motifs.tsv", "motifs.distinct.meme", "matches.tsv", "truth.tsv"):
        assert (tmp_path / name).read_bytes() == (out.parent / name).read_bytes(), name
    assert [m.id for m in found.motifs] == ["kernel1", "kernel0"]
    # CTCF forward and CTCF reverse (masked) -> the masked one is absent; CTCF and MAX differ
    assert found.groups.n_groups == 2
    assert [m.name for m in found.distinct_motifs()] == ["group1", "group2"]


def test_command_defaults_are_the_library_defaults():
    """Every ``logos`` option that maps onto :class:`MotifOptions` shows the library's default."""
    from deepprune_cli.cli.logos import command

    cli = {p.name: p.default for p in command.params}
    names = {"threshold": "threshold", "relative_to": "relative_to", "trim_bits": "trim_bits",
             "min_sites": "min_sites", "min_bits": "min_bits", "order": "order", "sites_from": "sites_from",
             "group_p": "group_p", "match_threshold": "match_thresh", "match_by": "match_by",
             "truth_threshold": "truth_thresh", "truth_by": "truth_by"}  # fmt: skip
    for field in dataclasses.fields(MotifOptions):
        if field.name in names:
            assert cli[names[field.name]] == field.default, field.name
    assert set(names) | {"seed"} == {f.name for f in dataclasses.fields(MotifOptions)}


@pytest.mark.parametrize(
    "bad, words",
    [
        ({"threshold": 0}, "--threshold"),
        ({"threshold": 1.5}, "--threshold"),
        ({"min_bits": -1}, "--min-bits"),
        ({"group_p": 0}, "--group-p"),
        ({"match_threshold": -0.1}, "--match-thresh"),
        ({"order": "size"}, "order"),
        ({"sites_from": "negatives"}, "sites_from"),
    ],
)
def test_bad_options_are_refused_by_name(bad, words):
    with pytest.raises(InputError, match=words):
        MotifOptions(**bad).check()


def test_output_paths_default_beside_the_meme_file_and_never_collide(tmp_path):
    paths = default_output_paths(tmp_path / "m.meme", matching=True)
    assert paths == {
        "meme": tmp_path / "m.meme", "table": tmp_path / "m.tsv", "distinct": tmp_path / "m.distinct.meme",
        "matches": tmp_path / "matches.tsv", "truth": None,
    }  # fmt: skip
    assert default_output_paths("-", grouping=True)["distinct"] is None
    with pytest.raises(InputError, match="collide"):
        default_output_paths(tmp_path / "m.meme", table=tmp_path / "m.meme")
    with pytest.raises(InputError, match="stdout"):
        default_output_paths("-", table="-")
    with pytest.raises(InputError, match="--distinct needs grouping"):
        default_output_paths(tmp_path / "m.meme", distinct=tmp_path / "d.meme", grouping=False)
