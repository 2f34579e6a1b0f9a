"""In-silico mutagenesis: how a model's output (logit) changes with single-base substitutions.

* :func:`mutation_map`: every position x base of one sequence (DeepBind's mutation map): the
  (L, 4) matrix of ``logit(mutant) - logit(reference)``, zero at the reference base.
* :func:`score_variants`: SNVs from a VCF, each scored in a window of the genome centred on it:
  reference and alternative logits and their difference. Indels, multi-allelic records and
  variants whose window runs off a chromosome are skipped and counted; an unknown chromosome or a
  REF that disagrees with the genome is an :class:`InputError` naming the VCF line.

Logits come from the model in eval mode, batched; the same inputs give the same numbers on CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator

import numpy as np

from deepprune_cli.core.errors import InputError
from deepprune_cli.core.models import MotifCNN
from deepprune_cli.core.sequences import LETTERS

_BASES = "ACGT"


def logits(model: MotifCNN, tokens: np.ndarray, device=None, batch_size: int = 4096) -> np.ndarray:
    """Model logits float32 ``(n, C)`` for uint8 tokens ``(n, L)`` (one length)."""
    import torch

    from deepprune_cli.core.training import _eval_batches

    parts = _eval_batches(model, tokens, device, batch_size, model)
    if not parts:
        return np.zeros((0, model.spec.n_outputs), np.float32)
    return torch.cat(parts).float().cpu().numpy()


#: bytes of mutant tokens built at once (a 10-kb record has 40,000 mutants of 10 kb each)
_MUTANT_BYTES = 64 * 2**20


def mutants(tokens: np.ndarray, first: int = 0, end: int | None = None) -> np.ndarray:
    """Single-base substitutions of ``tokens`` uint8 ``(L,)`` at positions ``first..end-1``:
    uint8 ``((end - first) * 4, L)``, row ``4 * (p - first) + b`` has base ``b`` at position
    ``p`` (the reference itself where ``b`` is the reference base)."""
    L = len(tokens)
    end = L if end is None else end
    n = end - first
    out = np.repeat(np.asarray(tokens, np.uint8)[None, :], 4 * n, axis=0)
    out[np.arange(4 * n), np.repeat(np.arange(first, end), 4)] = np.tile(np.arange(4, dtype=np.uint8), n)
    return out


def mutation_map(model: MotifCNN, tokens: np.ndarray, device=None, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """``(reference logits float32 (C,), delta float32 (L, 4, C))``: the change of every output's
    logit when position ``p`` becomes base ``b`` (exactly 0 at the reference base)."""
    tokens = np.asarray(tokens, np.uint8)
    L = len(tokens)
    ref = logits(model, tokens[None, :], device, batch_size)[0]
    step = max(1, _MUTANT_BYTES // (4 * L))  # positions per block: bounded memory for long records
    mut = np.concatenate(
        [logits(model, mutants(tokens, s, min(L, s + step)), device, batch_size) for s in range(0, L, step)]
    ).reshape(L, 4, -1)
    delta = mut - ref
    same = tokens < 4
    delta[np.flatnonzero(same), tokens[same]] = 0.0
    return ref, delta


@dataclass
class MutationMap:
    """One record's map: ``id``, ``tokens`` uint8 ``(L,)``, ``ref`` float32 ``(C,)``, ``delta``
    float32 ``(L, 4, C)``."""

    id: str
    tokens: np.ndarray
    ref: np.ndarray
    delta: np.ndarray


def mutation_maps(
    model: MotifCNN, chunks, ids: set[str] | None = None, device=None, batch_size: int = 4096
) -> Iterator[MutationMap]:
    """Maps of every record of ``chunks`` (SequenceSet iterable), or only those named in ``ids``."""
    from deepprune_cli.core.inference import check_input

    for seqs in chunks:
        check_input(model, seqs)
        for i, rid in enumerate(seqs.ids):
            if ids is not None and rid not in ids:
                continue
            tok = seqs.sequence(i)
            ref, delta = mutation_map(model, tok, device, batch_size)
            yield MutationMap(rid, tok.copy(), ref, delta)


def map_header(n_outputs: int) -> str:
    cols = ["id", "position", "ref", "alt"]
    cols += ["delta_logit"] if n_outputs == 1 else [f"delta_logit_{c}" for c in range(n_outputs)]
    return "\t".join(cols) + "\n"


def format_map(m: MutationMap) -> str:
    """TSV rows: one per position (1-based) and alternative base (the 3 that differ from the
    reference; all 4 at an N)."""
    ref_letters = LETTERS[m.tokens].tobytes().decode()
    lines = []
    for p in range(len(m.tokens)):
        for b in range(4):
            if b == m.tokens[p]:
                continue
            vals = "\t".join(f"{v:.6g}" for v in m.delta[p, b].tolist())
            lines.append(f"{m.id}\t{p + 1}\t{ref_letters[p]}\t{_BASES[b]}\t{vals}\n")
    return "".join(lines)


def write_mutation_maps(
    model: MotifCNN,
    chunks,
    output: str | os.PathLike,
    *,
    wanted: set[str] | None = None,
    png_dir: str | os.PathLike | None = None,
    output_index: int = 0,
    device=None,
    batch_size: int = 4096,
    progress: Callable[[int], None] | None = None,
    source: str = "INPUT",
) -> set[str]:
    """Mutation maps of every record of ``chunks`` (or those named in ``wanted``): the TSV
    (:func:`map_header`, :func:`format_map`) to ``output`` (``"-"``: stdout) and, with
    ``png_dir``, one figure per record for output ``output_index``. The table and the figures
    appear together or not at all; ``progress(n)`` gets the records mapped so far.

    Returns the ids mapped. Raises :class:`InputError` naming records of ``wanted`` that
    ``source`` does not hold (nothing is written then).
    """
    from deepprune_cli.core.atomic import atomic_group, atomic_output, output_directory

    n_out = model.spec.n_outputs
    if not 0 <= output_index < n_out:
        raise InputError(f"--output-index {output_index}: the model has {n_out} output(s)")
    found: set[str] = set()
    maps = []
    with atomic_group():
        with atomic_output(output, "w") as fh:
            fh.write(map_header(n_out))
            for m in mutation_maps(model, chunks, wanted, device=device, batch_size=batch_size):
                fh.write(format_map(m))
                found.add(m.id)
                if png_dir is not None:
                    maps.append(m)
                if progress is not None:
                    progress(len(found))
            if wanted is not None and wanted - found:
                missing = sorted(wanted - found)
                raise InputError(f"{source}: no record named {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        if png_dir is not None:
            from deepprune_cli.core import plots

            out_dir = output_directory(png_dir)
            for m in maps:
                plots.plot_mutation_map(m.tokens, m.delta[:, :, output_index], out_dir / plots.safe_filename(m.id, "png"),
                                        title=f"{m.id}  logit {m.ref[output_index]:.3g}")  # fmt: skip
    return found


# --------------------------------------------------------------------------------------------
# variants


@dataclass
class VariantCounts:
    """What happened to the VCF's records."""

    scored: int = 0
    indels: int = 0
    multiallelic: int = 0
    off_edge: int = 0
    other: int = 0  # ALT '.', '*' or a symbolic allele such as <DEL>
    notes: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return self.indels + self.multiallelic + self.off_edge + self.other


@dataclass
class Variant:
    line: int
    chrom: str
    pos: int  # 1-based, as in the VCF
    vid: str
    ref: str
    alt: str


def read_snvs(path, genome_fasta, counts: VariantCounts, source: str | None = None) -> Iterator[Variant]:
    """SNVs of a VCF (plain, gzip, ``-``), checked against ``genome_fasta`` (pyfaidx); other
    records counted in ``counts`` and skipped."""
    from deepprune_cli.core.sequences import _display, _line_blocks, open_input_stream

    source = source or _display(path)
    stream = open_input_stream(path, kind="VCF file")
    sizes = {name: len(rec) for name, rec in genome_fasta.records.items()}
    seen_header = False
    try:
        for block, first in _line_blocks(stream, 1 << 20, source, b"\n"):
            for ln, raw in enumerate(block.split(b"\n"), start=first):
                line = raw.decode("utf-8", errors="replace").rstrip("\r")
                if not line:
                    continue
                if line.startswith("#"):
                    seen_header = seen_header or line.startswith("#CHROM") or line.startswith("##fileformat=VCF")
                    continue
                cols = line.split("\t")
                if len(cols) < 5:
                    raise InputError(f"{source}: line {ln}: a VCF record needs CHROM, POS, ID, REF and ALT (tab-separated)")
                chrom, pos_text, vid, ref, alt = cols[:5]
                try:
                    pos = int(pos_text)
                except ValueError:
                    raise InputError(f"{source}: line {ln}: POS '{pos_text}' is not an integer") from None
                if chrom not in sizes:
                    raise InputError(f"{source}: line {ln}: chromosome '{chrom}' is not in the genome")
                if pos < 1 or pos > sizes[chrom]:
                    raise InputError(f"{source}: line {ln}: POS {pos} is outside {chrom} (1..{sizes[chrom]})")
                ref_u = ref.upper()
                genome_ref = str(genome_fasta[chrom][pos - 1 : pos - 1 + len(ref)]).upper()
                if genome_ref != ref_u:
                    raise InputError(f"{source}: line {ln}: REF {ref} disagrees with the genome ({chrom}:{pos} is {genome_ref})")
                alts = alt.split(",")
                if len(alts) > 1:
                    counts.multiallelic += 1
                    continue
                alt_u = alt.upper()
                if alt_u in (".", "*") or alt_u.startswith("<") or "[" in alt_u or "]" in alt_u:
                    counts.other += 1
                    continue
                if len(ref_u) != 1 or len(alt_u) != 1:
                    counts.indels += 1
                    continue
                if ref_u not in _BASES or alt_u not in _BASES:
                    counts.other += 1
                    continue
                yield Variant(ln, chrom, pos, vid, ref_u, alt_u)
    finally:
        if str(path) != "-":
            stream.close()
    if not seen_header:
        counts.notes.append(f"{source}: no '#CHROM' header line; read as VCF columns anyway")


def variant_header(n_outputs: int) -> str:
    cols = ["chrom", "pos", "id", "ref", "alt", "window_start", "window_end"]
    for c in [""] if n_outputs == 1 else [f"_{c}" for c in range(n_outputs)]:
        cols += [f"ref_logit{c}", f"alt_logit{c}", f"delta_logit{c}"]
    return "\t".join(cols) + "\n"


def score_variants(
    model: MotifCNN,
    vcf,
    genome,
    window: int,
    out: IO[str],
    device=None,
    batch_size: int = 4096,
    progress: Callable[[int], None] | None = None,
) -> VariantCounts:
    """Write one TSV row per SNV of ``vcf`` to ``out``: the ``window``-bp genome window centred on
    it (0-based half-open ``[window_start, window_end)``; the variant at offset ``window // 2``)
    scored with the reference and with the alternative base."""
    from deepprune_cli.core.sequences import BYTE_TO_TOKEN, N_TOKEN, open_genome

    spec = model.spec
    if spec.flattens and window != spec.seq_len:
        raise InputError(f"--window {window}: model {spec.name} was built for {spec.seq_len}-bp sequences")
    if window < spec.min_length():
        raise InputError(f"--window {window}: model {spec.name} needs at least {spec.min_length()} bp")
    fasta = open_genome(genome)
    sizes = {name: len(rec) for name, rec in fasta.records.items()}
    counts = VariantCounts()
    out.write(variant_header(spec.n_outputs))
    half = window // 2
    pending: list[tuple[Variant, int]] = []
    mats: list[np.ndarray] = []

    def flush():
        if not pending:
            return
        ref_tok = np.stack(mats)
        alt_tok = ref_tok.copy()
        alt_tok[:, half] = [_BASES.index(v.alt) for v, _ in pending]
        lr = logits(model, ref_tok, device, batch_size)
        la = logits(model, alt_tok, device, batch_size)
        lines = []
        for (v, start), r, a in zip(pending, lr.tolist(), la.tolist()):
            vals = "\t".join(f"{x:.6g}\t{y:.6g}\t{y - x:.6g}" for x, y in zip(r, a))
            lines.append(f"{v.chrom}\t{v.pos}\t{v.vid}\t{v.ref}\t{v.alt}\t{start}\t{start + window}\t{vals}\n")
        out.write("".join(lines))
        counts.scored += len(pending)
        pending.clear()
        mats.clear()
        if progress is not None:
            progress(counts.scored)

    for v in read_snvs(vcf, fasta, counts):
        start = v.pos - 1 - half
        if start < 0 or start + window > sizes[v.chrom]:
            counts.off_edge += 1
            continue
        seq = str(fasta[v.chrom][start : start + window]).encode("ascii", errors="replace")
        tok = BYTE_TO_TOKEN[np.frombuffer(seq, np.uint8)].copy()
        tok[tok > N_TOKEN] = N_TOKEN  # IUPAC codes in the genome read as N
        pending.append((v, start))
        mats.append(tok)
        if len(pending) >= 4096:
            flush()
    flush()
    return counts
