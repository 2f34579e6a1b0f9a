"""Model directories: save and load, reusable by every command and from Python.

A model directory holds

* ``config.json``: format name and version, tool version, the architecture spec (every layer),
  kernel mask over the original kernels and the original index of every physical kernel,
  alphabet, sequence length / padding rule, training hyper-parameters, seed, data fingerprint;
* ``weights.pt``: ``torch.save`` of the state dict (loaded with ``weights_only=True``: no code
  runs when reading it);
* ``history.tsv``: one row per epoch (epoch, train_loss, val_loss, val_auroc, val_auprc);
* ``metrics.json``: best epoch, validation (and test) metrics.

Nothing time- or machine-dependent is written, so the same seed gives byte-identical files on
CPU. Directories are written atomically (built under a temporary name, then renamed).

    from deepprune_cli.core.store import load_model
    rec = load_model("model/")            # rec.model (eval mode), rec.config, rec.history, rec.metrics
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from deepprune_cli import __version__
from deepprune_cli.core.atomic import atomic_directory, atomic_output
from deepprune_cli.core.errors import InputError, ModelDirError
from deepprune_cli.core.architectures import ArchSpec
from deepprune_cli.core.models import MotifCNN, full_kernel_mask

FORMAT = "deepprune-model"
SEEDS_FORMAT = "deepprune-seeds"
VERSION = 1
CONFIG = "config.json"
WEIGHTS = "weights.pt"
HISTORY = "history.tsv"
METRICS = "metrics.json"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_auroc", "val_auprc")


@dataclass
class ModelRecord:
    """A loaded model directory."""

    model: MotifCNN
    config: dict
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    path: Path | None = None


def _clean(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj


def dumps(obj) -> str:
    """Stable JSON text (sorted keys, 2-space indent, trailing newline)."""
    return json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n"


def model_config(model: MotifCNN, training: dict | None = None, data: dict | None = None, **extra) -> dict:
    """The ``config.json`` content for ``model``."""
    spec = model.spec
    cfg = {
        "format": FORMAT,
        "version": VERSION,
        "tool_version": __version__,
        "arch": spec.name,
        "spec": spec.to_dict(),
        "alphabet": "ACGT",
        "n_kernels": model.n_kernels,
        "n_kernels_original": spec.n_kernels_original,
        "kernel_ids": model.kernel_ids.cpu().tolist(),
        "kernel_mask": full_kernel_mask(model).tolist(),
        "both_strands": spec.both_strands,
        "seq_len": spec.seq_len,
        "padding": "fixed length" if spec.flattens else "N, centred, to the longest record",
        "n_outputs": spec.n_outputs,
        "training": training or {},
        "data": data or {},
    }
    cfg.update(extra)
    return cfg


def format_history(history: list[dict]) -> str:
    """``history.tsv`` text: header + one row per epoch (fixed 6-decimal floats)."""
    lines = ["\t".join(HISTORY_COLUMNS)]
    for row in history:
        cells = []
        for col in HISTORY_COLUMNS:
            v = row.get(col)
            if col == "epoch":
                cells.append(str(int(v)))
            elif v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("nan")
            else:
                cells.append(f"{float(v):.6f}")
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def state_bytes(model: MotifCNN) -> bytes:
    """The serialised state dict (CPU tensors)."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def write_model_files(
    directory: str | os.PathLike,
    model: MotifCNN,
    *,
    training: dict | None = None,
    data: dict | None = None,
    history: list[dict] | None = None,
    metrics: dict | None = None,
    **extra,
) -> Path:
    """Write the four files into an existing ``directory`` (e.g. inside an atomic_directory)."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    with atomic_output(d / WEIGHTS, "wb") as fh:
        fh.write(state_bytes(model))
    with atomic_output(d / CONFIG) as fh:
        fh.write(dumps(model_config(model, training, data, **extra)))
    with atomic_output(d / HISTORY) as fh:
        fh.write(format_history(history or []))
    with atomic_output(d / METRICS) as fh:
        fh.write(dumps(metrics or {}))
    return d


def save_model(path: str | os.PathLike, model: MotifCNN, **kwargs) -> Path:
    """Write a complete model directory at ``path`` atomically (replacing an existing one)."""
    with atomic_directory(path) as tmp:
        write_model_files(tmp, model, **kwargs)
    return Path(path)


def read_config(path: str | os.PathLike) -> dict:
    """``config.json`` of a model directory, validated (ModelDirError if missing or unusable)."""
    p = Path(path)
    if not p.exists():
        raise ModelDirError(f"{p}: no such model directory")
    if not p.is_dir():
        raise ModelDirError(f"{p}: not a directory (a model is a directory with {CONFIG} and {WEIGHTS})")
    cfg_path = p / CONFIG
    if not cfg_path.exists():
        seeds = p / "summary.json"
        if seeds.exists():
            subs = sorted(q.name for q in p.iterdir() if (q / CONFIG).exists())
            raise ModelDirError(f"{p}: holds one model per seed; load one of {', '.join(subs) or 'its seed folders'}")
        raise ModelDirError(f"{p}: not a deepprune model directory (no {CONFIG})")
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelDirError(f"{cfg_path}: unreadable or corrupt JSON ({exc})") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ModelDirError(f"{cfg_path}: not a deepprune model config (format is not '{FORMAT}')")
    version = cfg.get("version")
    if not isinstance(version, int) or version < 1:
        raise ModelDirError(f"{cfg_path}: missing or invalid config version")
    if version > VERSION:
        raise ModelDirError(
            f"{cfg_path}: config version {version} was written by a newer deepprune; this one reads up to {VERSION}"
        )
    # Fields the commands read besides the spec: wrong types would fail far from here.
    for key, kind in (("arch", str), ("alphabet", str), ("training", dict), ("data", dict), ("prune", dict)):
        if cfg.get(key) is not None and not isinstance(cfg[key], kind):
            raise ModelDirError(f"{cfg_path}: '{key}' must be {_JSON_KINDS[kind]}, got {json.dumps(cfg[key])[:40]}")
    prune = cfg.get("prune") or {}
    for key, kind in (("round", int), ("variant", str)):
        value = prune.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ModelDirError(f"{cfg_path}: 'prune.{key}' must be {_JSON_KINDS[kind]}, got {json.dumps(value)[:40]}")
    return cfg


_JSON_KINDS = {str: "a string", dict: "an object", int: "an integer"}


def spec_from_config(cfg: dict, where: str = CONFIG) -> ArchSpec:
    try:
        spec = ArchSpec.from_dict(cfg["spec"])
        spec.convs[0].channels = int(cfg.get("n_kernels", spec.convs[0].channels))
        return spec
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ModelDirError(f"{where}: invalid architecture spec ({exc})") from None


def read_history(path: str | os.PathLike) -> list[dict]:
    """Rows of ``history.tsv`` as dicts (floats; ``nan`` for missing values); [] if absent."""
    p = Path(path) / HISTORY
    if not p.exists():
        return []
    rows = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ModelDirError(f"{p}: not a text file (byte {exc.start} is not UTF-8)") from None
    if not lines:
        return []
    header = lines[0].split("\t")
    for ln, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ModelDirError(f"{p}: line {ln}: expected {len(header)} columns, found {len(cells)}")
        try:
            rows.append({h: (int(c) if h == "epoch" else float(c)) for h, c in zip(header, cells)})
        except ValueError:
            raise ModelDirError(f"{p}: line {ln}: not a number") from None
    return rows


def _check_shapes(spec, state: dict, wpath: Path, conv_impl: str) -> None:
    """Compare the weights' tensor shapes with what ``config.json`` describes *before* allocating the
    model, so a config asking for absurd sizes fails by name instead of exhausting memory."""
    try:
        with torch.device("meta"):  # shapes only, no memory
            expected = {k: tuple(v.shape) for k, v in MotifCNN(spec, conv_impl).state_dict().items()}
    except (InputError, ValueError, RuntimeError) as exc:
        raise ModelDirError(f"{wpath.parent / CONFIG}: describes no valid model ({exc})") from None
    got = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(got) != len(state):
        raise ModelDirError(f"{wpath}: not a state dict of tensors")
    for key in sorted(set(expected) | set(got)):
        if expected.get(key) != got.get(key):
            want = "absent" if key not in expected else "x".join(map(str, expected[key]))
            have = "absent" if key not in got else "x".join(map(str, got[key]))
            raise ModelDirError(f"{wpath}: weights do not match {CONFIG} ({key}: config says {want}, weights have {have})")


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu", conv_impl: str = "auto") -> ModelRecord:
    """Load a model directory: the model in eval mode on ``device`` plus its config, history, metrics.

    Raises :class:`ModelDirError` (exit 2 in the CLI) naming the missing or corrupt piece.
    """
    p = Path(path)
    cfg = read_config(p)
    spec = spec_from_config(cfg, str(p / CONFIG))
    wpath = p / WEIGHTS
    if not wpath.exists():
        raise ModelDirError(f"{p}: model directory has no {WEIGHTS}")
    # Warnings torch gives about a file it then fails to read (e.g. an odd pickle protocol in random
    # bytes) would only precede the one error line; those of a successful load are passed on.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            state = torch.load(wpath, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for truncated / foreign files
            code = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", str(exc), re.IGNORECASE)
            if code:  # a pickle that would import (and could call) arbitrary Python
                raise ModelDirError(
                    f"{wpath}: refused: it references the Python object {code.group(1)}, not only tensors "
                    "(loading it could run code)"
                ) from None
            raise ModelDirError(f"{wpath}: corrupt or not a deepprune weights file ({type(exc).__name__})") from None
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if not isinstance(state, dict):
        raise ModelDirError(f"{wpath}: not a state dict")
    _check_shapes(spec, state, wpath, conv_impl)
    try:
        model = MotifCNN(spec, conv_impl)
        model.load_state_dict(state, strict=True)
    except Exception as exc:
        # torch's message is a header line ("Error(s) in loading state_dict ...:") then the details
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        first = next((line for line in lines if not line.endswith(":")), lines[0] if lines else type(exc).__name__)
        raise ModelDirError(f"{wpath}: weights do not match {CONFIG} ({first})") from None
    metrics = {}
    mpath = p / METRICS
    if mpath.exists():
        try:
            metrics = json.loads(mpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelDirError(f"{mpath}: unreadable or corrupt JSON ({exc})") from None
    model.eval()
    return ModelRecord(model.to(device), cfg, read_history(p), metrics, p)


def is_model_dir(path: str | os.PathLike) -> bool:
    """True when ``path`` is a directory holding a model's ``config.json`` (not yet validated)."""
    return (Path(path) / CONFIG).is_file()
