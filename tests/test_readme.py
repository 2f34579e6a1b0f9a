"""The README's Python examples are run as written, so the documentation cannot drift from the code.

Every ```python block of the README's "Python API" section runs, in order and in one namespace
(later blocks use what earlier ones made), in a fresh process inside a temporary directory.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_api_blocks(readme: str) -> list[str]:
    """The ```python blocks between '## Python API' and the next second-level heading."""
    start = readme.index("\n## Python API\n")
    end = readme.find("\n## ", start + 1)
    section = readme[start : end if end != -1 else len(readme)]
    return re.findall(r"^```python\n(.*?)^```$", section, flags=re.M | re.S)


def test_python_api_section_has_examples():
    blocks = python_api_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    joined = "\n".join(blocks)
    for name in ("read_sequences", "fit", "PruneRun", "kernel_ppms", "compare_motifs"):
        assert name in joined


def test_readme_python_examples_run(tmp_path):
    blocks = python_api_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    script = tmp_path / "readme_examples.py"
    script.write_text("\n\n".join(blocks), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # What the examples say they write is there.
    for path in ("sim/train.fa", "shuffled.fa", "some.meme", "model/config.json", "pruned/summary.tsv"):
        assert (tmp_path / path).is_file(), path
