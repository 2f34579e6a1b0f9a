/* deepprune_cli.core._native: the C hot paths of `deepprune shuffle`, the FASTA readers and (in
 * _first_layer.c) the fused first layer of the CPU models.
 *
 * Each function here is a line-for-line port of a numba kernel that stays the reference and the
 * fallback (deepprune_cli/core/shuffle_kernels.py and fasta_kernels.py): same arguments (numpy
 * arrays passed through the buffer protocol, dtypes checked by deepprune_cli/core/kernels.py), same
 * results, and for the shuffles the same random draws in the same order, so the bytes do not depend
 * on which backend ran. The GIL is released around every loop; the shuffles run on POSIX threads,
 * the first layer on OpenMP where built with it (native_run_threads, native_run_jobs).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------ */
/* counter-based random numbers: splitmix64, one uint64 of state per record                    */

static inline uint64_t next_u64(uint64_t *state)
{
    uint64_t z;
    *state += 0x9E3779B97F4A7C15ULL;
    z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* 53 random bits scaled to [0, n), with the numba kernel's exact floating-point steps. */
static inline int64_t rand_below(uint64_t *state, int64_t n)
{
    double x = (double)(int64_t)(next_u64(state) >> 11);
    x = x * (1.0 / 9007199254740992.0);
    x = x * (double)n;
    return (int64_t)x;
}

static inline void seed_state(uint64_t *state, uint64_t seed, int64_t record, int64_t copy)
{
    *state = (seed * 0xD1B54A32D192ED03ULL)
             ^ ((uint64_t)record * 0x9E3779B97F4A7C15ULL + (uint64_t)copy * 0xBF58476D1CE4E5B9ULL);
    next_u64(state);
    next_u64(state);
}

/* ------------------------------------------------------------------------------------------ */
/* k-let shuffles (see shuffle_kernels.shuffle_segment for the algorithm)                       */

typedef struct {
    int64_t *counts;  /* (4 * nv,) */
    int64_t *nxt;     /* (nv,) */
    uint8_t *in_tree; /* (nv,) */
} scratch_t;

/* A prepared trail, walked later: the per-vertex out-letters in their shuffled order (edges, with
   ptr[u] the next one of vertex u) and where to write. Walks of several segments are interleaved,
   so that the CPU follows several independent chains of loads at once (a walk is one long chain:
   vertex -> its next edge -> next vertex); each segment's bytes are exactly its own walk's. */
typedef struct {
    int64_t *ptr;   /* (nv,) */
    uint8_t *edges; /* (max_len + 16,) */
    uint8_t *out;
    int64_t length, start;
} lane_t;

#define LANES 4

/* Steps 1 and 2 for a segment of length L > k (k >= 2): draw the last-exit arborescence and the
   order of every vertex's out-edges into lane. Same draws, in the same order, as the numba kernel. */
static void prepare_segment(const uint8_t *seg, int64_t L, int k, uint64_t *state, scratch_t *s, lane_t *lane)
{
    int64_t i, j, u, u0, pos;
    int a;
    const int m = k - 1;
    const int64_t nv = (int64_t)1 << (2 * m);
    const int64_t mask = nv - 1;
    int64_t *counts = s->counts, *nxt = s->nxt, *ptr = lane->ptr;
    uint8_t *in_tree = s->in_tree, *edges = lane->edges;
    memset(counts, 0, sizeof(int64_t) * (size_t)(nv * 4));
    int64_t v = 0;
    for (j = 0; j < m; j++)
        v = v * 4 + seg[j];
    lane->start = v;
    if (k == 2) { /* each k-let's code from its own two letters: no chain from one to the next */
        for (i = 1; i < L; i++)
            counts[seg[i - 1] * 4 + seg[i]] += 1;
        v = seg[L - 1];
    } else {
        for (i = m; i < L; i++) {
            a = seg[i];
            counts[v * 4 + a] += 1;
            v = (v * 4 + a) & mask;
        }
    }
    const int64_t end = v;
    /* 1. Wilson's algorithm: uniform arborescence of last exits, rooted at the end vertex. */
    memset(in_tree, 0, (size_t)nv);
    for (u = 0; u < nv; u++)
        nxt[u] = -1;
    in_tree[end] = 1;
    for (u0 = 0; u0 < nv; u0++) {
        const int64_t *c0 = counts + u0 * 4;
        if (c0[0] + c0[1] + c0[2] + c0[3] == 0 || in_tree[u0])
            continue;
        u = u0;
        while (!in_tree[u]) {
            const int64_t *c = counts + u * 4;
            int64_t r = rand_below(state, c[0] + c[1] + c[2] + c[3]);
            a = 0;
            while (r >= c[a]) {
                r -= c[a];
                a++;
            }
            nxt[u] = a;
            u = (u * 4 + a) & mask;
        }
        u = u0;
        while (!in_tree[u]) {
            in_tree[u] = 1;
            u = (u * 4 + nxt[u]) & mask;
        }
    }
    /* 2. Per vertex: its out-letters, the non-last ones uniformly permuted, the last exit at the end. */
    pos = 0;
    for (u = 0; u < nv; u++) {
        const int64_t b0 = pos, last = nxt[u];
        ptr[u] = pos;
        for (a = 0; a < 4; a++) {
            /* c copies of letter a, eight bytes a store: a byte loop mispredicts its exit on
               every run length; the bytes written past pos + c are overwritten next (slack of 8) */
            const int64_t c = counts[u * 4 + a] - (last == a ? 1 : 0);
            const uint64_t eight = (uint64_t)a * 0x0101010101010101ULL;
            for (int64_t x = 0; x < c; x += 8)
                memcpy(edges + pos + x, &eight, 8);
            pos += c;
        }
        for (i = pos - b0 - 1; i > 0; i--) {
            uint8_t t;
            j = rand_below(state, i + 1);
            t = edges[b0 + i];
            edges[b0 + i] = edges[b0 + j];
            edges[b0 + j] = t;
        }
        if (last >= 0)
            edges[pos++] = (uint8_t)last;
    }
}

/* 3. Walk the trails of lanes[0..nl): out[m..length) of each (its first m letters are written). */
static void walk_lanes(lane_t *lanes, int nl, int m, int64_t mask)
{
    int64_t u[LANES], i, shortest = INT64_MAX;
    int l;
    for (l = 0; l < nl; l++) {
        u[l] = lanes[l].start;
        if (lanes[l].length < shortest)
            shortest = lanes[l].length;
    }
    if (nl == LANES) {
        /* The common case, in lock-step. Everything in locals: a byte store may alias any memory
           as far as the compiler knows, so fields read through ``lanes`` would be reloaded. */
        uint8_t *const e0 = lanes[0].edges, *const e1 = lanes[1].edges, *const e2 = lanes[2].edges,
                       *const e3 = lanes[3].edges;
        uint8_t *const o0 = lanes[0].out, *const o1 = lanes[1].out, *const o2 = lanes[2].out,
                       *const o3 = lanes[3].out;
        int64_t *const p0 = lanes[0].ptr, *const p1 = lanes[1].ptr, *const p2 = lanes[2].ptr,
                       *const p3 = lanes[3].ptr;
        int64_t u0 = u[0], u1 = u[1], u2 = u[2], u3 = u[3];
        for (i = m; i < shortest; i++) {
            const int64_t a0 = e0[p0[u0]++], a1 = e1[p1[u1]++], a2 = e2[p2[u2]++], a3 = e3[p3[u3]++];
            o0[i] = (uint8_t)a0;
            o1[i] = (uint8_t)a1;
            o2[i] = (uint8_t)a2;
            o3[i] = (uint8_t)a3;
            u0 = (u0 * 4 + a0) & mask;
            u1 = (u1 * 4 + a1) & mask;
            u2 = (u2 * 4 + a2) & mask;
            u3 = (u3 * 4 + a3) & mask;
        }
        u[0] = u0, u[1] = u1, u[2] = u2, u[3] = u3;
    } else {
        shortest = m;
    }
    for (l = 0; l < nl; l++) {
        lane_t *w = lanes + l;
        int64_t v = u[l];
        for (i = shortest; i < w->length; i++) {
            const int64_t a = w->edges[w->ptr[v]++];
            w->out[i] = (uint8_t)a;
            v = (v * 4 + a) & mask;
        }
    }
}

typedef struct {
    const uint8_t *tokens;
    const int64_t *offsets;
    uint8_t *out;
    uint8_t *too_short;
    int64_t r0, r1, max_len, first_record, copies;
    uint64_t seed;
    int k;
    int failed; /* 1: out of memory, 2: a token above 4 */
} shuffle_job_t;

static void *shuffle_range(void *arg)
{
    shuffle_job_t *job = (shuffle_job_t *)arg;
    const int k = job->k, m = k - 1;
    const int64_t nv = (int64_t)1 << (2 * (k > 1 ? k - 1 : 1)), mask = nv - 1;
    const int64_t copies = job->copies;
    scratch_t s;
    lane_t lanes[LANES];
    int nl = 0, l, ok;
    s.counts = malloc(sizeof(int64_t) * (size_t)(4 * nv));
    s.nxt = malloc(sizeof(int64_t) * (size_t)nv);
    s.in_tree = malloc((size_t)nv);
    ok = s.counts && s.nxt && s.in_tree;
    for (l = 0; l < LANES; l++) {
        lanes[l].ptr = malloc(sizeof(int64_t) * (size_t)nv);
        lanes[l].edges = malloc((size_t)job->max_len + 16); /* + the letter fill's slack */
        ok = ok && lanes[l].ptr && lanes[l].edges;
    }
    if (!ok) {
        job->failed = 1;
        goto done;
    }
    for (int64_t r = job->r0; r < job->r1; r++) {
        const uint8_t *seq = job->tokens + job->offsets[r];
        const int64_t L = job->offsets[r + 1] - job->offsets[r];
        int64_t n_acgt = 0, i, j, c;
        int bad = 0;
        for (i = 0; i < L; i++) { /* (no early exit: the compiler vectorises this loop) */
            bad |= seq[i] > 4;
            n_acgt += seq[i] != 4;
        }
        if (bad) { /* not a token: would index past the counts */
            job->failed = 2;
            goto done;
        }
        job->too_short[r] = n_acgt < (k == 1 ? 2 : k + 2);
        for (c = 0; c < copies; c++) {
            uint64_t state;
            uint8_t *dst = job->out + copies * job->offsets[r] + c * L;
            seed_state(&state, job->seed, job->first_record + r, c);
            i = 0;
            while (i < L) {
                if (seq[i] == 4) { /* N runs stay where they are */
                    dst[i++] = 4;
                    continue;
                }
                if (n_acgt == L) {
                    j = L;
                } else {
                    const uint8_t *nrun = memchr(seq + i, 4, (size_t)(L - i));
                    j = nrun ? nrun - seq : L;
                }
                if (k == 1) { /* Fisher-Yates over the letters */
                    int64_t x, y;
                    memcpy(dst + i, seq + i, (size_t)(j - i));
                    for (x = j - i - 1; x > 0; x--) {
                        uint8_t t;
                        y = rand_below(&state, x + 1);
                        t = dst[i + x];
                        dst[i + x] = dst[i + y];
                        dst[i + y] = t;
                    }
                } else {
                    memcpy(dst + i, seq + i, (size_t)(j - i <= m + 1 ? j - i : m));
                    if (j - i > m + 1) { /* more than one k-let: a trail to walk */
                        lanes[nl].out = dst + i;
                        lanes[nl].length = j - i;
                        prepare_segment(seq + i, j - i, k, &state, &s, lanes + nl);
                        if (++nl == LANES) {
                            walk_lanes(lanes, nl, m, mask);
                            nl = 0;
                        }
                    }
                }
                i = j;
            }
        }
    }
    walk_lanes(lanes, nl, m, mask);
done:
    free(s.counts);
    free(s.nxt);
    free(s.in_tree);
    for (l = 0; l < LANES; l++) {
        free(lanes[l].ptr);
        free(lanes[l].edges);
    }
    return NULL;
}

#define MAX_THREADS 256

/* Run fn(job_t) for threads jobs: jobs 1.. on new POSIX threads, job 0 here (and any job whose
 * thread could not start). The shuffles use this directly: on the OpenMP team below, their wall
 * time was the same and their CPU time 11% higher (idle workers spin), farm-bench, 1 M records. */
void native_run_threads(void *(*fn)(void *), void *jobs, size_t job_size, int threads)
{
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    for (int t = 1; t < threads; t++)
        started[t] = pthread_create(&ids[t], NULL, fn, (char *)jobs + t * job_size) == 0;
    fn(jobs);
    for (int t = 1; t < threads; t++) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            fn((char *)jobs + t * job_size);
    }
}

/* Run fn(job_t) for threads jobs, each on its own thread, next to torch (the first layer in
 * _first_layer.c).
 *
 * With OpenMP (setup.py builds with -fopenmp where the compiler has it) the jobs run on the
 * OpenMP team: torch's CPU wheel ships libgomp.so.1 and, loaded first, it is the one this module
 * binds to, so the first layer reuses torch's own worker threads, already awake between the
 * layers of a step. New POSIX threads per call (native_run_threads, the fallback) compete with
 * torch's workers still spinning after their last parallel region: a 2-thread `train` took 5.5 s
 * that way, more than on one thread (4.7 s); on the OpenMP team 3.9 s. */
void native_run_jobs(void *(*fn)(void *), void *jobs, size_t job_size, int threads)
{
#ifdef _OPENMP
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; t++)
        fn((char *)jobs + t * job_size);
#else
    native_run_threads(fn, jobs, job_size, threads);
#endif
}

/* threads clamped to 1..MAX_THREADS and to the number of work items */
int native_clamp_threads(int threads, int64_t work)
{
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (threads > work)
        threads = work > 0 ? (int)work : 1;
    return threads;
}

/* The result of a threaded call from its jobs' OR-ed failure flags: None, or NULL with the error
 * set (flag 2: a token above 4, said as "<what>: tokens must be 0..4"; flag 1: out of memory). */
PyObject *native_jobs_result(int failed, const char *what)
{
    if (failed & 2)
        return PyErr_Format(PyExc_ValueError, "%s: tokens must be 0..4", what);
    if (failed)
        return PyErr_NoMemory();
    return Py_NewRef(Py_None);
}

static PyObject *py_shuffle_records(PyObject *self, PyObject *args)
{
    Py_buffer tokens, offsets, out, too_short;
    int k, threads;
    long long copies, first_record;
    unsigned long long seed;
    if (!PyArg_ParseTuple(args, "y*y*iLKLw*w*i", &tokens, &offsets, &k, &copies, &seed, &first_record, &out,
                          &too_short, &threads))
        return NULL;
    PyObject *result = NULL;
    const int64_t *off = (const int64_t *)offsets.buf;
    const int64_t n = offsets.len / (Py_ssize_t)sizeof(int64_t) - 1;
    if (k < 1 || k > 6 || copies < 1 || n < 0 || too_short.len < n
        || (n >= 0 && (off[0] != 0 || off[n] > tokens.len || out.len < copies * off[n]))) {
        PyErr_SetString(PyExc_ValueError, "shuffle_records: inconsistent arguments");
        goto end;
    }
    int64_t max_len = 0, total = n > 0 ? off[n] : 0;
    for (int64_t r = 0; r < n; r++) {
        if (off[r + 1] < off[r]) {
            PyErr_SetString(PyExc_ValueError, "shuffle_records: offsets must not decrease");
            goto end;
        }
        if (off[r + 1] - off[r] > max_len)
            max_len = off[r + 1] - off[r];
    }
    threads = native_clamp_threads(threads, n);
    shuffle_job_t jobs[MAX_THREADS];
    int failed = 0;
    Py_BEGIN_ALLOW_THREADS
    /* Contiguous record ranges of about equal bases; each record seeds itself, so the cut does not
       change a byte. */
    int64_t r = 0;
    for (int t = 0; t < threads; t++) {
        int64_t goal = total * (t + 1) / threads;
        int64_t r1 = r;
        if (t == threads - 1)
            r1 = n;
        else
            while (r1 < n && off[r1] < goal)
                r1++;
        shuffle_job_t job = {(const uint8_t *)tokens.buf, off, (uint8_t *)out.buf, (uint8_t *)too_short.buf,
                             r, r1, max_len, (int64_t)first_record, (int64_t)copies, (uint64_t)seed, k, 0};
        jobs[t] = job;
        r = r1;
    }
    native_run_threads(shuffle_range, jobs, sizeof(shuffle_job_t), threads);
    for (int t = 0; t < threads; t++)
        failed |= jobs[t].failed;
    Py_END_ALLOW_THREADS
    result = native_jobs_result(failed, "shuffle_records");
end:
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&out);
    PyBuffer_Release(&too_short);
    return result;
}

/* ------------------------------------------------------------------------------------------ */
/* FASTA                                                                                       */

#define LUT_IUPAC 254
#define LUT_SKIP 253

/* scan_fasta(buf, lut, tokens, header_start, header_end, lengths)
 *   -> (n, n_tokens, n_iupac, bad_record, bad_pos, bad_byte); see fasta_kernels.scan_fasta.
 * lengths must be zeroed by the caller; buf starts with '>' and ends with '\n'. */
static PyObject *py_scan_fasta(PyObject *self, PyObject *args)
{
    Py_buffer buf, lut, tokens, hs, he, lengths;
    if (!PyArg_ParseTuple(args, "y*y*w*w*w*w*", &buf, &lut, &tokens, &hs, &he, &lengths))
        return NULL;
    PyObject *result = NULL;
    const int64_t size = buf.len, max_records = hs.len / (Py_ssize_t)sizeof(int64_t);
    const uint8_t *b = (const uint8_t *)buf.buf;
    if (lut.len != 256 || tokens.len < size || he.len < hs.len || lengths.len < hs.len
        || (size > 0 && (b[0] != '>' || b[size - 1] != '\n'))) {
        PyErr_SetString(PyExc_ValueError, "scan_fasta: inconsistent arguments");
        goto end;
    }
    const uint8_t *table = (const uint8_t *)lut.buf;
    uint8_t *tok = (uint8_t *)tokens.buf;
    int64_t *h_start = (int64_t *)hs.buf, *h_end = (int64_t *)he.buf, *len = (int64_t *)lengths.buf;
    int64_t n = 0, pos = 0, n_iupac = 0, i = 0, bad_record = -1, bad_pos = 0, bad_byte = 0;
    int overflow = 0;
    Py_BEGIN_ALLOW_THREADS
    while (i < size) {
        if (b[i] == '>') {
            const uint8_t *nl = memchr(b + i + 1, '\n', (size_t)(size - i - 1));
            int64_t j = nl - b;
            if (n == max_records) {
                overflow = 1;
                break;
            }
            h_start[n] = i + 1;
            h_end[n] = (j > i + 1 && b[j - 1] == '\r') ? j - 1 : j;
            n++;
            i = j + 1;
            continue;
        }
        /* a sequence line */
        const int64_t line_start_pos = pos;
        while (b[i] != '\n') {
            const uint8_t t = table[b[i]];
            if (t < 5) {
                tok[pos++] = t;
            } else if (t == LUT_IUPAC) {
                tok[pos++] = 4;
                n_iupac++;
            } else if (t != LUT_SKIP) {
                len[n - 1] += pos - line_start_pos;
                bad_record = n - 1;
                bad_pos = len[n - 1] + 1;
                bad_byte = i;
                goto scanned;
            }
            i++;
        }
        len[n - 1] += pos - line_start_pos;
        i++;
    }
scanned:
    Py_END_ALLOW_THREADS
    if (overflow) {
        PyErr_SetString(PyExc_ValueError, "scan_fasta: more records than max_records");
        goto end;
    }
    result = Py_BuildValue("LLLLLL", (long long)n, (long long)pos, (long long)n_iupac, (long long)bad_record,
                           (long long)bad_pos, (long long)bad_byte);
end:
    PyBuffer_Release(&buf);
    PyBuffer_Release(&lut);
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&hs);
    PyBuffer_Release(&he);
    PyBuffer_Release(&lengths);
    return result;
}

/* gather_headers(buf, header_start, header_end, n, out) -> bytes written; see fasta_kernels. */
static PyObject *py_gather_headers(PyObject *self, PyObject *args)
{
    Py_buffer buf, hs, he, out;
    long long n;
    if (!PyArg_ParseTuple(args, "y*y*y*Lw*", &buf, &hs, &he, &n, &out))
        return NULL;
    PyObject *result = NULL;
    const int64_t *h_start = (const int64_t *)hs.buf, *h_end = (const int64_t *)he.buf;
    const uint8_t *b = (const uint8_t *)buf.buf;
    uint8_t *o = (uint8_t *)out.buf;
    int64_t need = 0, p = 0;
    if (n < 0 || (Py_ssize_t)(n * sizeof(int64_t)) > hs.len || (Py_ssize_t)(n * sizeof(int64_t)) > he.len) {
        PyErr_SetString(PyExc_ValueError, "gather_headers: inconsistent arguments");
        goto end;
    }
    for (int64_t r = 0; r < n; r++) {
        if (h_start[r] < 0 || h_end[r] < h_start[r] || h_end[r] > buf.len) {
            PyErr_SetString(PyExc_ValueError, "gather_headers: header range outside the buffer");
            goto end;
        }
        need += h_end[r] - h_start[r] + 1;
    }
    if (need > out.len) {
        PyErr_SetString(PyExc_ValueError, "gather_headers: output too small");
        goto end;
    }
    Py_BEGIN_ALLOW_THREADS
    for (int64_t r = 0; r < n; r++) {
        const int64_t l = h_end[r] - h_start[r];
        memcpy(o + p, b + h_start[r], (size_t)l);
        p += l;
        o[p++] = '\n';
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(p);
end:
    PyBuffer_Release(&buf);
    PyBuffer_Release(&hs);
    PyBuffer_Release(&he);
    PyBuffer_Release(&out);
    return result;
}

/* render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets, letters, out)
 *   -> bytes written; see fasta_kernels.render_copies. */
static PyObject *py_render_copies(PyObject *self, PyObject *args)
{
    Py_buffer ids, id_off_b, suf, suf_off_b, tokens, off_b, letters, out;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*y*y*w*", &ids, &id_off_b, &suf, &suf_off_b, &tokens, &off_b, &letters,
                          &out))
        return NULL;
    PyObject *result = NULL;
    const int64_t *id_off = (const int64_t *)id_off_b.buf, *suf_off = (const int64_t *)suf_off_b.buf;
    const int64_t *off = (const int64_t *)off_b.buf;
    const int64_t n = off_b.len / (Py_ssize_t)sizeof(int64_t) - 1;
    const int64_t copies = suf_off_b.len / (Py_ssize_t)sizeof(int64_t) - 1;
    const uint8_t *id = (const uint8_t *)ids.buf, *sx = (const uint8_t *)suf.buf, *tok = (const uint8_t *)tokens.buf;
    const uint8_t *let = (const uint8_t *)letters.buf;
    uint8_t *o = (uint8_t *)out.buf;
    int64_t need = 0, p = 0, r, c, i;
    if (n < 0 || copies < 0 || id_off_b.len < (Py_ssize_t)((n + 1) * sizeof(int64_t)) || off[0] != 0
        || id_off[0] < 0 || id_off[n] > ids.len || suf_off[0] < 0 || suf_off[copies] > suf.len
        || copies * off[n] > tokens.len || letters.len < 5) {
        PyErr_SetString(PyExc_ValueError, "render_copies: inconsistent arguments");
        goto end;
    }
    for (c = 0; c < copies; c++)
        if (suf_off[c + 1] < suf_off[c]) {
            PyErr_SetString(PyExc_ValueError, "render_copies: suffix offsets must not decrease");
            goto end;
        }
    for (r = 0; r < n; r++) {
        if (off[r + 1] < off[r] || id_off[r + 1] <= id_off[r]) {
            PyErr_SetString(PyExc_ValueError, "render_copies: offsets must increase");
            goto end;
        }
        need += copies * (id_off[r + 1] - id_off[r] + 2 + off[r + 1] - off[r]);
    }
    need += n * (suf_off[copies] - suf_off[0]);
    if (need > out.len) {
        PyErr_SetString(PyExc_ValueError, "render_copies: output too small");
        goto end;
    }
    /* token -> letter for all 256 byte values: a stray token cannot read past ``letters`` */
    uint8_t table[256];
    for (i = 0; i < 256; i++)
        table[i] = i < letters.len ? let[i] : 'N';
    Py_BEGIN_ALLOW_THREADS
    for (r = 0; r < n; r++) {
        const int64_t length = off[r + 1] - off[r], id_len = id_off[r + 1] - 1 - id_off[r];
        for (c = 0; c < copies; c++) {
            const int64_t s_len = suf_off[c + 1] - suf_off[c];
            const uint8_t *src = tok + copies * off[r] + c * length;
            o[p++] = '>';
            memcpy(o + p, id + id_off[r], (size_t)id_len);
            p += id_len;
            memcpy(o + p, sx + suf_off[c], (size_t)s_len);
            p += s_len;
            o[p++] = '\n';
            for (i = 0; i < length; i++)
                o[p + i] = table[src[i]];
            p += length;
            o[p++] = '\n';
        }
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(p);
end:
    PyBuffer_Release(&ids);
    PyBuffer_Release(&id_off_b);
    PyBuffer_Release(&suf);
    PyBuffer_Release(&suf_off_b);
    PyBuffer_Release(&tokens);
    PyBuffer_Release(&off_b);
    PyBuffer_Release(&letters);
    PyBuffer_Release(&out);
    return result;
}

/* count_byte(buf, value) -> how many bytes of buf equal value (memchr runs at memory speed). */
static PyObject *py_count_byte(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    int value;
    if (!PyArg_ParseTuple(args, "y*i", &buf, &value))
        return NULL;
    const uint8_t *p = (const uint8_t *)buf.buf, *end = p + buf.len;
    long long n = 0;
    Py_BEGIN_ALLOW_THREADS
    while (p < end && (p = memchr(p, value, (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&buf);
    return PyLong_FromLongLong(n);
}

static PyMethodDef methods[] = {
    {"count_byte", py_count_byte, METH_VARARGS, "count_byte(buf, value) -> occurrences of the byte value"},
    {"shuffle_records", py_shuffle_records, METH_VARARGS,
     "shuffle_records(tokens, offsets, k, copies, seed, first_record, out, too_short, threads)"},
    {"scan_fasta", py_scan_fasta, METH_VARARGS,
     "scan_fasta(buf, lut, tokens, header_start, header_end, lengths) -> (n, n_tokens, n_iupac, bad_record, "
     "bad_pos, bad_byte)"},
    {"gather_headers", py_gather_headers, METH_VARARGS, "gather_headers(buf, header_start, header_end, n, out)"},
    {"render_copies", py_render_copies, METH_VARARGS,
     "render_copies(id_blob, id_offsets, suffix_blob, suffix_offsets, tokens, offsets, letters, out)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native",
    "C ports of deepprune's numba kernels for shuffling and FASTA (see deepprune_cli.core.kernels).", -1,
    methods,
};

/* the fused first layer's kernels, defined in _first_layer.c */
extern PyMethodDef first_layer_methods[];

PyMODINIT_FUNC PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddFunctions(m, first_layer_methods) < 0)
        Py_CLEAR(m);
    return m;
}
