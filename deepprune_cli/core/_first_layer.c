/* The fused first layer of deepprune's CPU models in C: convolution over uint8 tokens, global max
 * over positions (and strands), and the gradient of that max. Part of the _native extension (its
 * methods are registered in _native.c).
 *
 * A line-for-line port of the numba kernels in deepprune_cli/core/first_layer_kernels.py (build_table,
 * features_forward, features_backward), which stay the reference and the fallback: the same sums
 * in the same order, no reassociation (-std=c11 turns off floating-point contraction), so C and
 * numba give the same bits. The C kernels matter at start-up: a torch command no longer imports
 * numba and loads its cached kernels (0.8 s measured, of every `train`, `prune` or `predict`).
 *
 * Work is split over threads (native_run_jobs in _native.c) by records (forward) or
 * by kernels (backward); every output value is computed by one thread in a fixed order, so the
 * results do not depend on the count.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 256 /* the cap of native_clamp_threads, as in _native.c */
#define KC 128                 /* kernels summed together in registers: 8 AVX-512 or 16 AVX2 vectors */
#define MAP_IN_CACHE (16 << 10) /* a (P, K2) map up to this size is summed in place */

/* The inner loops run over contiguous kernels and vectorise; numba compiles them for the host CPU,
 * so the C ones get AVX2/AVX-512 clones too, picked at load time (a wheel still runs anywhere).
 * Element-wise adds and compares only: the same bits at every vector width. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HOT_LOOPS __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT_LOOPS
#endif

/* defined in _native.c: run fn over the jobs, one thread each (OpenMP where built with it, so on
 * torch's own workers, else POSIX threads); the thread count clamped to 1..MAX_THREADS and the work */
void native_run_jobs(void *(*fn)(void *), void *jobs, size_t job_size, int threads);
int native_clamp_threads(int threads, int64_t work);
/* defined in _native.c: None, or NULL with the error of the jobs' failure flags set */
PyObject *native_jobs_result(int failed, const char *what);

/* tg (J, C, K2) from t5 (J * g, 5, K2): row (j, code) = the sum of its g bases' rows, the
 * first base's first (as numba's). */
HOT_LOOPS static void sum_code_rows(const float *t5, float *tg, int J, int64_t C, int g, int K2)
{
    memset(tg, 0, sizeof(float) * (size_t)J * C * K2);
    for (int j = 0; j < J; j++)
        for (int64_t code = 0; code < C; code++) {
            int64_t rest = code;
            float *restrict row = tg + ((size_t)j * C + code) * K2;
            for (int i = g - 1; i >= 0; i--) { /* last base is the least significant digit */
                int a = (int)(rest % 5);
                rest /= 5;
                const float *restrict src = t5 + ((size_t)(j * g + i) * 5 + a) * K2;
                for (int k = 0; k < K2; k++)
                    row[k] += src[k];
            }
        }
}

/* first_layer_table(weight, K, W, both, g, tg)
 * weight float32 (K, 4, W) -> tg float32 (J, 5**g, K2), J = ceil(W / g), K2 = 2K with both strands
 * (kernels K..2K-1 are the reverse complements: reversed, A<->T, C<->G). Row a of a position is
 * base a's weight, row 4 (N) the mean of the four; a code's row is the sum over its g bases. */
static PyObject *py_first_layer_table(PyObject *self, PyObject *args)
{
    Py_buffer weight, tg_buf;
    int K, W, both, g;
    if (!PyArg_ParseTuple(args, "y*iipiw*", &weight, &K, &W, &both, &g, &tg_buf))
        return NULL;
    PyObject *result = NULL;
    const int K2 = both ? 2 * K : K, J = (W + g - 1) / g;
    int64_t C = 1;
    for (int i = 0; i < g; i++)
        C *= 5;
    if (K < 1 || W < 1 || g < 1 || g > 6 || weight.len < (Py_ssize_t)sizeof(float) * K * 4 * W
        || tg_buf.len < (Py_ssize_t)sizeof(float) * J * C * K2) {
        PyErr_SetString(PyExc_ValueError, "first_layer_table: inconsistent arguments");
        goto end;
    }
    float *t5 = calloc((size_t)J * g * 5 * K2, sizeof(float));
    if (t5 == NULL) {
        PyErr_NoMemory();
        goto end;
    }
    const float *w = (const float *)weight.buf;
    float *tg = (float *)tg_buf.buf;
    Py_BEGIN_ALLOW_THREADS
#define T5(pos, a, k) t5[((size_t)(pos) * 5 + (a)) * K2 + (k)]
    for (int k = 0; k < K; k++)
        for (int x = 0; x < W; x++) {
            double m = 0.0; /* numba's `m = 0.0` is a float64: the mean is summed in double */
            for (int a = 0; a < 4; a++) {
                float v = w[((size_t)k * 4 + a) * W + x];
                T5(x, a, k) = v;
                m += v;
            }
            T5(x, 4, k) = (float)(m / 4);
            if (both) {
                int xr = W - 1 - x;
                for (int a = 0; a < 4; a++)
                    T5(xr, 3 - a, K + k) = w[((size_t)k * 4 + a) * W + x];
                T5(xr, 4, K + k) = (float)(m / 4);
            }
        }
#undef T5
    sum_code_rows(t5, tg, J, C, g, K2);
    Py_END_ALLOW_THREADS
    free(t5);
    result = Py_NewRef(Py_None);
end:
    PyBuffer_Release(&weight);
    PyBuffer_Release(&tg_buf);
    return result;
}

/* The best window of each kernel in one record when its (P, K2) map fits the near caches: window
 * sums in place (J passes over the map), then the max. Inlined with a compile-time K2 for K2 =
 * 1..16 and 32 (the switch in forward_range): with a run-time K2 the per-position loop overhead
 * dominates small models, and a K2 of 4 ran only the scalar remainder of the vector loop
 * (measured, one thread, batch 256 x 101 bp, W = 24: K2 = 4 0.57 -> 0.15 ms, 8 0.31 -> 0.19,
 * 16 0.31 -> 0.25, 32 0.53 -> 0.47). Same sums in the same order at every K2: the same bits. */
/* Keeps GCC from unrolling a loop over a constant K2 into scalar code before it vectorises it
 * (GCC 12, -O3, K2 = 8: the fully unrolled loop compiled to scalar vaddss; with this, to vaddps). */
#define VECTOR_LOOP _Pragma("GCC unroll 1")
static inline __attribute__((always_inline)) void best_windows_in_cache(const int64_t *codes, const float *tg, int J,
                                                                        int64_t C, int g, int64_t P, float *conv,
                                                                        float *best, int32_t *bi, const int K2)
{
    for (int64_t p = 0; p < P; p++) {
        const float *restrict row = tg + (size_t)codes[p] * K2;
        float *restrict cp = conv + p * K2;
        VECTOR_LOOP
        for (int k = 0; k < K2; k++)
            cp[k] = row[k];
    }
    for (int j = 1; j < J; j++) {
        const float *tj = tg + (size_t)j * C * K2;
        for (int64_t p = 0; p < P; p++) {
            const float *restrict row = tj + (size_t)codes[p + (int64_t)g * j] * K2;
            float *restrict cp = conv + p * K2;
            VECTOR_LOOP
            for (int k = 0; k < K2; k++)
                cp[k] += row[k];
        }
    }
    VECTOR_LOOP
    for (int k = 0; k < K2; k++) {
        best[k] = conv[k];
        bi[k] = 0;
    }
    for (int64_t p = 1; p < P; p++) {
        const float *restrict cp = conv + p * K2;
        VECTOR_LOOP
        for (int k = 0; k < K2; k++) {
            int better = cp[k] > best[k];
            best[k] = better ? cp[k] : best[k];
            bi[k] = better ? (int32_t)p : bi[k];
        }
    }
}

typedef struct {
    const uint8_t *tokens;
    const float *tg, *bias;
    float *out;
    int32_t *arg;
    int8_t *strand;
    int64_t b0, b1, L;
    int J, C, K, K2, W, g, relu, failed;
} forward_job_t;

HOT_LOOPS static void *forward_range(void *arg_)
{
    forward_job_t *job = arg_;
    const int64_t L = job->L, P = L - job->W + 1;
    const int J = job->J, C = job->C, K = job->K, K2 = job->K2, g = job->g;
    const int64_t top = C / 5; /* 5**(g-1): the weight of a code's leading digit */
    int64_t *codes = calloc((size_t)(L + (int64_t)g * J), sizeof(int64_t));
    /* Both orders give the same sums in the same order (tg[0] + tg[1] + ... per window and kernel,
     * as numba's); which is faster depends on whether the (P, K2) map stays in L1/L2 (measured,
     * one thread: K = 16 0.64 vs 0.80 ms per batch of 256, K = 256 12.4 vs 10.4 ms). */
    const size_t map_bytes = ((sizeof(float) * (size_t)(P > 0 ? P : 1) * K2 + 63) / 64) * 64;
    float *conv = map_bytes <= MAP_IN_CACHE ? aligned_alloc(64, map_bytes) : NULL;
    float *best = malloc(sizeof(float) * K2);
    int32_t *bi = malloc(sizeof(int32_t) * K2);
    if (codes == NULL || best == NULL || bi == NULL || (map_bytes <= MAP_IN_CACHE && conv == NULL)) {
        job->failed = 1;
        goto done;
    }
    for (int64_t b = job->b0; b < job->b1; b++) {
        const uint8_t *tok = job->tokens + b * L;
        uint8_t worst = 0;
        for (int64_t p = 0; p < L; p++)
            worst = tok[p] > worst ? tok[p] : worst;
        if (worst > 4) {
            job->failed = 2;
            goto done;
        }
        /* codes[p] = the g bases from p as base-5 digits, the first most significant, bases past
         * the end as 0; rolled: drop the leading digit, shift, add the next base */
        int64_t c = 0;
        for (int i = 0; i < g; i++)
            c = c * 5 + (i < L ? tok[i] : 0);
        codes[0] = c;
        for (int64_t p = 1; p < L; p++) {
            c = (c - tok[p - 1] * top) * 5 + (p + g - 1 < L ? tok[p + g - 1] : 0);
            codes[p] = c;
        }
        if (conv != NULL) { /* a small map: window sums in place, J passes over it, then the max */
            switch (K2) {
#define IN_CACHE(n) \
    case n: \
        best_windows_in_cache(codes, job->tg, J, C, g, P, conv, best, bi, n); \
        break;
                IN_CACHE(1) IN_CACHE(2) IN_CACHE(3) IN_CACHE(4) IN_CACHE(5) IN_CACHE(6) IN_CACHE(7) IN_CACHE(8)
                IN_CACHE(9) IN_CACHE(10) IN_CACHE(11) IN_CACHE(12) IN_CACHE(13) IN_CACHE(14) IN_CACHE(15)
                IN_CACHE(16) IN_CACHE(32)
#undef IN_CACHE
            default:
                best_windows_in_cache(codes, job->tg, J, C, g, P, conv, best, bi, K2);
            }
        } else {
            /* a map too large for the near caches: kernels in chunks of KC, each window's sum over
             * the J groups kept in registers and taken straight into the running max */
            for (int k0 = 0; k0 < K2; k0 += KC) {
                const int kn = K2 - k0 < KC ? K2 - k0 : KC;
                float *restrict bc = best + k0;
                int32_t *restrict ic = bi + k0;
                for (int64_t p = 0; p < P; p++) {
                    float acc[KC];
                    const float *restrict row = job->tg + (size_t)codes[p] * K2 + k0;
                    for (int k = 0; k < kn; k++)
                        acc[k] = row[k];
                    for (int j = 1; j < J; j++) {
                        row = job->tg + ((size_t)j * C + (size_t)codes[p + (int64_t)g * j]) * K2 + k0;
                        for (int k = 0; k < kn; k++)
                            acc[k] += row[k];
                    }
                    if (p == 0) {
                        for (int k = 0; k < kn; k++) {
                            bc[k] = acc[k];
                            ic[k] = 0;
                        }
                        continue;
                    }
                    for (int k = 0; k < kn; k++) {
                        int better = acc[k] > bc[k];
                        bc[k] = better ? acc[k] : bc[k];
                        ic[k] = better ? (int32_t)p : ic[k];
                    }
                }
            }
        }
        for (int k = 0; k < K; k++) {
            float v = best[k];
            int32_t a = bi[k];
            int8_t s = 0;
            if (K2 > K && best[K + k] > v) {
                v = best[K + k];
                a = bi[K + k];
                s = 1;
            }
            v += job->bias[k];
            if (job->relu && v < 0)
                v = 0.0f;
            job->out[b * K + k] = v;
            job->arg[b * K + k] = a;
            job->strand[b * K + k] = s;
        }
    }
done:
    free(codes);
    free(conv);
    free(best);
    free(bi);
    return NULL;
}

/* first_layer_forward(tokens, B, L, tg, J, K2, g, W, K, bias, relu, out, arg, strand, threads)
 * tokens uint8 (B, L) 0..4, tg float32 (J, 5**g, K2), bias float32 (K,)
 * -> out float32 (B, K) = [relu](max over strands and positions of conv + bias), arg int32 (B, K)
 *    the winning window's start, strand int8 (B, K) (1 = reverse complement); all written. */
static PyObject *py_first_layer_forward(PyObject *self, PyObject *args)
{
    Py_buffer tokens, tg, bias, out, arg, strand;
    long long B, L;
    int J, K2, g, W, K, relu, threads;
    if (!PyArg_ParseTuple(args, "y*LLy*iiiiiy*pw*w*w*i", &tokens, &B, &L, &tg, &J, &K2, &g, &W, &K, &bias, &relu,
                          &out, &arg, &strand, &threads))
        return NULL;
    PyObject *result = NULL;
    int C = 1;
    for (int i = 0; i < g && i < 7; i++)
        C *= 5;
    if (B < 0 || L < W || W < 1 || K < 1 || (K2 != K && K2 != 2 * K) || g < 1 || g > 6 || J * g < W
        || tokens.len < B * L || tg.len < (Py_ssize_t)sizeof(float) * J * C * K2
        || bias.len < (Py_ssize_t)sizeof(float) * K || out.len < (Py_ssize_t)sizeof(float) * B * K
        || arg.len < (Py_ssize_t)sizeof(int32_t) * B * K || strand.len < B * K) {
        PyErr_SetString(PyExc_ValueError, "first_layer_forward: inconsistent arguments");
        goto end;
    }
    threads = native_clamp_threads(threads, B);
    forward_job_t jobs[MAX_THREADS];
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (int t = 0; t < threads; t++) {
        forward_job_t job = {tokens.buf, tg.buf, bias.buf, out.buf, arg.buf, strand.buf,
                             B * t / threads, B * (t + 1) / threads, L, J, C, K, K2, W, g, relu, 0};
        jobs[t] = job;
    }
    native_run_jobs(forward_range, jobs, sizeof(forward_job_t), threads);
    for (int t = 0; t < threads; t++)
        failed |= jobs[t].failed;
    Py_END_ALLOW_THREADS
    result = native_jobs_result(failed, "first_layer_forward");
end:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&tg);
    PyBuffer_Release(&bias);
    PyBuffer_Release(&out);
    PyBuffer_Release(&arg);
    PyBuffer_Release(&strand);
    return result;
}

typedef struct {
    const uint8_t *tokens;
    const int32_t *arg;
    const int8_t *strand;
    const float *grad;
    float *gw, *gb;
    int64_t B, L;
    int k0, k1, K, W;
} backward_job_t;

HOT_LOOPS static void *backward_range(void *arg_)
{
    backward_job_t *job = arg_;
    const int K = job->K, W = job->W;
    for (int k = job->k0; k < job->k1; k++) {
        float *gw = job->gw + (size_t)k * 4 * W;
        for (int64_t b = 0; b < job->B; b++) {
            float gv = job->grad[b * K + k];
            if (gv == 0)
                continue;
            job->gb[k] += gv;
            const uint8_t *tok = job->tokens + b * job->L + job->arg[b * K + k];
            int rc = job->strand[b * K + k] == 1;
            for (int x = 0; x < W; x++) {
                int t = tok[x];
                int xx = rc ? W - 1 - x : x;
                if (t < 4)
                    gw[(rc ? 3 - t : t) * W + xx] += gv;
                else
                    for (int a = 0; a < 4; a++)
                        gw[a * W + xx] += gv * 0.25f;
            }
        }
    }
    return NULL;
}

/* first_layer_backward(tokens, B, L, arg, strand, grad, K, W, gw, gb, threads)
 * grad float32 (B, K), already zero where the ReLU was off -> gw float32 (K, 4, W), gb float32 (K,),
 * both written. Each (b, k) sends its gradient to the W cells of its winning window; N spreads a
 * quarter to each base; a reverse-strand win lands on the complementary base at the mirrored
 * offset. Split by kernels, each kernel's sum over b in order: deterministic. */
static PyObject *py_first_layer_backward(PyObject *self, PyObject *args)
{
    Py_buffer tokens, arg, strand, grad, gw, gb;
    long long B, L;
    int K, W, threads;
    if (!PyArg_ParseTuple(args, "y*LLy*y*y*iiw*w*i", &tokens, &B, &L, &arg, &strand, &grad, &K, &W, &gw, &gb,
                          &threads))
        return NULL;
    PyObject *result = NULL;
    if (B < 0 || K < 1 || W < 1 || L < W || tokens.len < B * L || arg.len < (Py_ssize_t)sizeof(int32_t) * B * K
        || strand.len < B * K || grad.len < (Py_ssize_t)sizeof(float) * B * K
        || gw.len < (Py_ssize_t)sizeof(float) * K * 4 * W || gb.len < (Py_ssize_t)sizeof(float) * K) {
        PyErr_SetString(PyExc_ValueError, "first_layer_backward: inconsistent arguments");
        goto end;
    }
    const int32_t *a = (const int32_t *)arg.buf;
    for (long long i = 0; i < B * K; i++)
        if (a[i] < 0 || a[i] > L - W) {
            PyErr_SetString(PyExc_ValueError, "first_layer_backward: window start out of range");
            goto end;
        }
    threads = native_clamp_threads(threads, K);
    backward_job_t jobs[MAX_THREADS];
    Py_BEGIN_ALLOW_THREADS
    memset(gw.buf, 0, sizeof(float) * (size_t)K * 4 * W);
    memset(gb.buf, 0, sizeof(float) * (size_t)K);
    for (int t = 0; t < threads; t++) {
        backward_job_t job = {tokens.buf, arg.buf, strand.buf, grad.buf, gw.buf, gb.buf, B, L,
                              K * t / threads, K * (t + 1) / threads, K, W};
        jobs[t] = job;
    }
    native_run_jobs(backward_range, jobs, sizeof(backward_job_t), threads);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
end:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&arg);
    PyBuffer_Release(&strand);
    PyBuffer_Release(&grad);
    PyBuffer_Release(&gw);
    PyBuffer_Release(&gb);
    return result;
}

PyMethodDef first_layer_methods[] = {
    {"first_layer_table", py_first_layer_table, METH_VARARGS, "first_layer_table(weight, K, W, both, g, tg)"},
    {"first_layer_forward", py_first_layer_forward, METH_VARARGS,
     "first_layer_forward(tokens, B, L, tg, J, K2, g, W, K, bias, relu, out, arg, strand, threads)"},
    {"first_layer_backward", py_first_layer_backward, METH_VARARGS,
     "first_layer_backward(tokens, B, L, arg, strand, grad, K, W, gw, gb, threads)"},
    {NULL, NULL, 0, NULL},
};
