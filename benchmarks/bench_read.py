"""Read 1,000,000 FASTA records of 101 bp: time, peak memory and resident bytes per base.

References in the same run: the whole-file parse (all bytes read, then one ``parse_fasta_bytes``
call: how ``read_sequences`` read FASTA before it read in chunks), same process set-up; and
Biopython's SeqIO.parse (one str per record), on a 100,000-record slice, extrapolated linearly.
"""

from __future__ import annotations

import json
import subprocess
import sys

from _common import random_fasta

MEASURE = r"""
import json, resource, sys, time, os
def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
from deepprune_cli.core.sequences import parse_fasta_bytes, read_input_bytes, read_sequences
import numpy as np
parse_fasta_bytes(b">warm\nACGT\n")  # load the compiled kernels first: not part of the per-base cost
base = rss()
t = time.perf_counter()
if sys.argv[2] == "whole":
    s = parse_fasta_bytes(read_input_bytes(sys.argv[1]), sys.argv[1])
else:
    s = read_sequences(sys.argv[1])
wall = time.perf_counter() - t
bases = int(s.offsets[-1])
print(json.dumps(dict(records=len(s), bases=bases, seconds=wall, resident_per_base=(rss() - base) / bases,
                      peak_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      tokens_per_base=s.tokens.nbytes / bases)))
"""

REFERENCE = r"""
import sys, time
from Bio import SeqIO
t = time.perf_counter()
seqs = [str(r.seq) for r in SeqIO.parse(sys.argv[1], 'fasta')]
print(time.perf_counter() - t, len(seqs))
"""


def main() -> None:
    n = 1_000_000
    results = {}
    for gz, how in ((False, "chunked"), (True, "chunked"), (False, "whole")):
        path = random_fasta(n, gz=gz)
        proc = subprocess.run([sys.executable, "-c", MEASURE, str(path), how], capture_output=True, text=True,
                              check=True)
        res = results[gz if how == "chunked" else how] = json.loads(proc.stdout)
        print(
            f"{'read' if how == 'chunked' else 'reference: whole-file parse of'} {path.name}: "
            f"{res['records']:,} records in {res['seconds']:.2f} s "
            f"({res['records'] / res['seconds']:,.0f} records/s); resident {res['resident_per_base']:.2f} B/base "
            f"(tokens {res['tokens_per_base']:.2f} B/base); process peak RSS {res['peak_mib']:.0f} MiB"
        )
    small = random_fasta(100_000)
    out = subprocess.run([sys.executable, "-c", REFERENCE, str(small)], capture_output=True, text=True, check=True)
    ref_seconds = float(out.stdout.split()[0]) * n / 100_000
    print(f"reference: Biopython SeqIO.parse, 100,000 records extrapolated to {n:,}: {ref_seconds:.2f} s")
    print(f"ratio whole-file parse / deepprune (plain FASTA): {results['whole']['seconds'] / results[False]['seconds']:.1f}x "
          f"time, {results['whole']['peak_mib'] / results[False]['peak_mib']:.2f}x peak memory")
    print(f"ratio reference / deepprune (plain FASTA): {ref_seconds / results[False]['seconds']:.1f}x")


if __name__ == "__main__":
    main()
