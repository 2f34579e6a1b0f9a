"""Numba kernels of the fused first layer (CPU): the reference and the fallback of the C ones.

``deepprune_cli.core._native`` ports these three functions line for line (``_first_layer.c``);
:mod:`deepprune_cli.core.kernels` picks which runs. The layout (see :mod:`first_layer`): a weight
table gathers kernel weights by token, three consecutive bases looked up at once in a
``(ceil(W/3), 125, K2)`` table; the forward keeps only each kernel's maximum and where it was; the
backward sends the gradient to that one window. Compiled code is cached on disk (``cache=True``).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, boundscheck=False)
def build_table(weight, both, g):  # pragma: no cover - compiled
    # weight (K, 4, W) -> grouped gather table (J, 5**g, K2), K2 = 2K with both strands:
    # kernels K..2K-1 are the reverse complements (reversed, A<->T, C<->G). N = mean of ACGT.
    K, _, W = weight.shape
    K2 = 2 * K if both else K
    J = (W + g - 1) // g
    t5 = np.zeros((J * g, 5, K2), np.float32)
    for k in range(K):
        for w in range(W):
            m = 0.0
            for a in range(4):
                v = weight[k, a, w]
                t5[w, a, k] = v
                m += v
            t5[w, 4, k] = m / 4
            if both:
                wr = W - 1 - w
                for a in range(4):
                    t5[wr, 3 - a, K + k] = weight[k, a, w]
                t5[wr, 4, K + k] = m / 4
    C = 5**g
    tg = np.zeros((J, C, K2), np.float32)
    for j in range(J):
        for code in range(C):
            rest = code
            for i in range(g - 1, -1, -1):  # last base is the least significant digit
                a = rest % 5
                rest //= 5
                for k in range(K2):
                    tg[j, code, k] += t5[j * g + i, a, k]
    return tg

@numba.njit(parallel=True, cache=True, boundscheck=False, fastmath=True)
def features_forward(tokens, tg, g, W, K, bias, relu):  # pragma: no cover - compiled
    # tokens (B, L) uint8 0..4; tg (J, 5**g, K2) from build_table.
    # -> out (B, K) = [relu](max over strands and positions of conv + bias),
    #    arg (B, K) int32 winning position, strand (B, K) int8 (1 = reverse complement).
    # Per sample: codes of every g-mer, the (P, K2) map summed group by group (the inner
    # loop runs over contiguous kernels: SIMD), then max/argmax. fastmath only licenses
    # vectorising these loops; every sum has a fixed order (deterministic).
    B, L = tokens.shape
    J, C, K2 = tg.shape
    P = L - W + 1
    out = np.empty((B, K), np.float32)
    arg = np.empty((B, K), np.int32)
    strand = np.zeros((B, K), np.int8)
    n_blocks = min(B, 64)
    for blk in numba.prange(n_blocks):
        codes = np.zeros(L + g * J, np.int64)
        conv = np.empty((P, K2), np.float32)
        best = np.empty(K2, np.float32)
        bi = np.empty(K2, np.int32)
        for b in range(blk * B // n_blocks, (blk + 1) * B // n_blocks):
            for p in range(L):
                c = 0
                for i in range(g):
                    c = c * 5
                    if p + i < L:
                        c += tokens[b, p + i]
                codes[p] = c
            for p in range(P):
                conv[p, :] = tg[0, codes[p]]
            for j in range(1, J):
                tj = tg[j]
                for p in range(P):
                    row = tj[codes[p + g * j]]
                    cp = conv[p]
                    for k in range(K2):
                        cp[k] += row[k]
            for k in range(K2):
                best[k] = conv[0, k]
                bi[k] = 0
            for p in range(1, P):
                for k in range(K2):
                    v = conv[p, k]
                    better = v > best[k]
                    best[k] = v if better else best[k]
                    bi[k] = p if better else bi[k]
            for k in range(K):
                v = best[k]
                a = bi[k]
                if K2 > K and best[K + k] > v:
                    v = best[K + k]
                    a = bi[K + k]
                    strand[b, k] = 1
                v += bias[k]
                if relu and v < 0:
                    v = 0.0
                out[b, k] = v
                arg[b, k] = a
    return out, arg, strand

@numba.njit(parallel=True, cache=True, boundscheck=False)
def features_backward(tokens, arg, strand, grad, W):  # pragma: no cover - compiled
    # grad (B, K) already zero where the ReLU was off -> d weight (K, 4, W), d bias (K,).
    # Each (b, k) sends its gradient to the W cells of its winning window; N spreads 1/4
    # to each base, reverse-strand wins land on the complementary base at the mirrored
    # offset. Parallel over kernels, sequential over b: deterministic sums.
    B, K = grad.shape
    gw = np.zeros((K, 4, W), np.float32)
    gb = np.zeros(K, np.float32)
    for k in numba.prange(K):
        for b in range(B):
            gv = grad[b, k]
            if gv == 0:
                continue
            gb[k] += gv
            p = arg[b, k]
            rc = strand[b, k] == 1
            for w in range(W):
                t = tokens[b, p + w]
                ww = W - 1 - w if rc else w
                if t < 4:
                    gw[k, 3 - t if rc else t, ww] += gv
                else:
                    for a in range(4):
                        gw[k, a, ww] += gv * 0.25
    return gw, gb
