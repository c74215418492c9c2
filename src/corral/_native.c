/* corral._native: the per-vocabulary hot loops of the token index, in C.
 *
 * Built by setuptools from this one file (no dependency beyond the Python headers): arrays come in through the
 * buffer protocol, so numpy's headers are not needed at build time. Every function releases the GIL while it
 * computes. The Python versions in corral.tokens.native_fallback are the executable specification; the tests
 * compare the two on real vocabularies.
 *
 *   suffix_ids(bm, lengths, starts, out)       token id of every suffix of every token (-1: no such token)
 *   class_groups(bm, lengths, order, cls, out) group tokens by their sequence of byte classes
 *   copy_rows(rows, out)                       copy equal-length int32 rows into a [B, W] array
 *   trie_build(...), trie_table(...)           the token trie, and a (terminal, DFA state)'s table by walking it
 *   run_suffixes(...)                          a DFA run over token suffixes (the remainders after a lexeme end)
 *   refine_partition(t, part)                  partition refinement (DFA minimisation)
 *   column_classes(t, out)                     columns of a transition table that are equal (byte classes)
 *   minimize_dfa(t, acc, out_t, out_acc)       prune, minimise and renumber a byte DFA canonically
 *   determinize(...)                           subset construction (regex NFA -> character DFA)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_buf.h"

/* ---------------------------------------------------------------------------------------- byte-string hash */

static inline uint64_t fnv1a(const uint8_t *p, int64_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (int64_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
}

static inline uint64_t next_pow2(uint64_t x) {
    uint64_t p = 1;
    while (p < x) p <<= 1;
    return p;
}

/* suffix_ids(bm uint8 [V, W], lengths int64 [V], starts int64 [V], out int32 [sum(lengths)])
 *
 * For every token t with lengths[t] > 0 and every offset 0 <= o < lengths[t]: out[starts[t] + o] = the smallest
 * token id whose bytes are bm[t, o:lengths[t]], or -1. Tokens of length 0 are not in the table. */
static PyObject *suffix_ids(PyObject *self, PyObject *args) {
    PyObject *o_bm, *o_len, *o_starts, *o_out;
    if (!PyArg_ParseTuple(args, "OOOO", &o_bm, &o_len, &o_starts, &o_out)) return NULL;
    Buf bm = {0}, len = {0}, st = {0}, out = {0};
    PyObject *result = NULL;
    if (get_buf(o_bm, &bm, 0, "BbB?", 1, "bm") < 0 || get_buf(o_len, &len, 0, "qlL", 8, "lengths") < 0 ||
        get_buf(o_starts, &st, 0, "qlL", 8, "starts") < 0 || get_buf(o_out, &out, 1, "iI", 4, "out") < 0)
        goto done;
    if (bm.view.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "bm must be 2-dimensional");
        goto done;
    }
    {
        const int64_t V = bm.view.shape[0], W = bm.view.shape[1];
        const uint8_t *B = (const uint8_t *)bm.view.buf;
        const int64_t *L = (const int64_t *)len.view.buf, *S = (const int64_t *)st.view.buf;
        int32_t *O = (int32_t *)out.view.buf;
        const int64_t n_out = out.view.len / 4;
        if (len.view.len / 8 != V || st.view.len / 8 != V) {
            PyErr_SetString(PyExc_ValueError, "lengths and starts must have one entry per row of bm");
            goto done;
        }
        for (int64_t t = 0; t < V; t++) {
            if (L[t] < 0 || L[t] > W || (L[t] > 0 && (S[t] < 0 || S[t] + L[t] > n_out))) {
                PyErr_Format(PyExc_ValueError, "bad length or start for token %lld", (long long)t);
                goto done;
            }
        }
        uint64_t cap = next_pow2((uint64_t)V * 2 + 16);
        int64_t *slots = (int64_t *)malloc(cap * sizeof(int64_t));
        if (!slots) {
            PyErr_NoMemory();
            goto done;
        }
        Py_BEGIN_ALLOW_THREADS
        for (uint64_t i = 0; i < cap; i++) slots[i] = -1;
        for (int64_t t = 0; t < V; t++) { /* insert; the smallest id wins for equal bytes */
            if (L[t] <= 0) continue;
            const uint8_t *p = B + t * W;
            uint64_t h = fnv1a(p, L[t]) & (cap - 1);
            for (;;) {
                int64_t u = slots[h];
                if (u < 0) {
                    slots[h] = t;
                    break;
                }
                if (L[u] == L[t] && memcmp(B + u * W, p, (size_t)L[t]) == 0) break;
                h = (h + 1) & (cap - 1);
            }
        }
        for (int64_t t = 0; t < V; t++) {
            const int64_t n = L[t];
            if (n <= 0) continue;
            const uint8_t *row = B + t * W;
            for (int64_t o = 0; o < n; o++) {
                const uint8_t *p = row + o;
                const int64_t m = n - o;
                uint64_t h = fnv1a(p, m) & (cap - 1);
                int32_t found = -1;
                for (;;) {
                    int64_t u = slots[h];
                    if (u < 0) break;
                    if (L[u] == m && memcmp(B + u * W, p, (size_t)m) == 0) {
                        found = (int32_t)u;
                        break;
                    }
                    h = (h + 1) & (cap - 1);
                }
                O[S[t] + o] = found;
            }
        }
        Py_END_ALLOW_THREADS
        free(slots);
        Py_INCREF(Py_None);
        result = Py_None;
    }
done:
    RELEASE(&bm, &len, &st, &out);
    return result;
}

/* class_groups(bm uint8 [V, W], lengths int64 [V], order int64 [N], cls uint8 [256], out int64 [N])
 *
 * Tokens order[0..N) grouped by their sequence of byte classes cls[bm[t, j]] (j < lengths[t]): out[i] = the
 * group of order[i], groups numbered 0, 1, ... in order of first appearance. Exact (sequences are compared, not
 * only hashed). Returns the number of groups. */
static PyObject *class_groups(PyObject *self, PyObject *args) {
    PyObject *o_bm, *o_len, *o_order, *o_cls, *o_out;
    if (!PyArg_ParseTuple(args, "OOOOO", &o_bm, &o_len, &o_order, &o_cls, &o_out)) return NULL;
    Buf bm = {0}, len = {0}, ord = {0}, cl = {0}, out = {0};
    PyObject *result = NULL;
    if (get_buf(o_bm, &bm, 0, "BbB?", 1, "bm") < 0 || get_buf(o_len, &len, 0, "qlL", 8, "lengths") < 0 ||
        get_buf(o_order, &ord, 0, "qlL", 8, "order") < 0 || get_buf(o_cls, &cl, 0, "BbB?", 1, "cls") < 0 ||
        get_buf(o_out, &out, 1, "qlL", 8, "out") < 0)
        goto done;
    if (bm.view.ndim != 2 || cl.view.len != 256 || out.view.len != ord.view.len) {
        PyErr_SetString(PyExc_ValueError, "class_groups: bm [V, W], cls [256], out as long as order");
        goto done;
    }
    {
        const int64_t V = bm.view.shape[0], W = bm.view.shape[1], N = ord.view.len / 8;
        const uint8_t *B = (const uint8_t *)bm.view.buf, *C = (const uint8_t *)cl.view.buf;
        const int64_t *L = (const int64_t *)len.view.buf, *O = (const int64_t *)ord.view.buf;
        int64_t *G = (int64_t *)out.view.buf;
        for (int64_t i = 0; i < N; i++) {
            if (O[i] < 0 || O[i] >= V || L[O[i]] < 0 || L[O[i]] > W) {
                PyErr_Format(PyExc_ValueError, "bad token %lld in order", (long long)O[i]);
                goto done;
            }
        }
        uint64_t cap = next_pow2((uint64_t)N * 2 + 16);
        int64_t *slots = (int64_t *)malloc(cap * sizeof(int64_t)); /* index i of a representative, or -1 */
        uint8_t *seq = (uint8_t *)malloc((size_t)(N ? N : 1) * (size_t)(W ? W : 1));
        uint64_t *hs = (uint64_t *)malloc((size_t)(N ? N : 1) * sizeof(uint64_t));
        if (!slots || !seq || !hs) {
            free(slots);
            free(seq);
            free(hs);
            PyErr_NoMemory();
            goto done;
        }
        int64_t n_groups = 0;
        Py_BEGIN_ALLOW_THREADS
        for (uint64_t i = 0; i < cap; i++) slots[i] = -1;
        for (int64_t i = 0; i < N; i++) {
            const int64_t t = O[i], n = L[t];
            uint8_t *s = seq + i * W;
            for (int64_t j = 0; j < n; j++) s[j] = C[B[t * W + j]];
            uint64_t h = fnv1a(s, n);
            hs[i] = h;
            uint64_t k = h & (cap - 1);
            for (;;) {
                int64_t r = slots[k];
                if (r < 0) {
                    slots[k] = i;
                    G[i] = n_groups++;
                    break;
                }
                if (hs[r] == h && L[O[r]] == n && memcmp(seq + r * W, s, (size_t)n) == 0) {
                    G[i] = G[r];
                    break;
                }
                k = (k + 1) & (cap - 1);
            }
        }
        Py_END_ALLOW_THREADS
        free(slots);
        free(seq);
        free(hs);
        result = PyLong_FromLongLong(n_groups);
    }
done:
    RELEASE(&bm, &len, &ord, &cl, &out);
    return result;
}

/* copy_rows(rows: sequence of int32 buffers [W], out int32 [>= len(rows), W]): out[i] = rows[i], GIL released. */
static PyObject *copy_rows(PyObject *self, PyObject *args) {
    PyObject *o_rows, *o_out;
    if (!PyArg_ParseTuple(args, "OO", &o_rows, &o_out)) return NULL;
    PyObject *seq = PySequence_Fast(o_rows, "rows must be a sequence");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    Buf out = {0};
    Buf *bufs = (Buf *)calloc((size_t)(n ? n : 1), sizeof(Buf));
    PyObject *result = NULL;
    if (!bufs) {
        PyErr_NoMemory();
        goto done;
    }
    if (get_buf(o_out, &out, 1, "iI", 4, "out") < 0) goto done;
    if (out.view.ndim != 2 || out.view.shape[0] < n) {
        PyErr_SetString(PyExc_ValueError, "out must be [>= len(rows), W]");
        goto done;
    }
    {
        const Py_ssize_t W = out.view.shape[1];
        for (Py_ssize_t i = 0; i < n; i++) {
            if (get_buf(PySequence_Fast_GET_ITEM(seq, i), &bufs[i], 0, "iI", 4, "row") < 0) goto done;
            if (bufs[i].view.len != W * 4) {
                PyErr_Format(PyExc_ValueError, "row %zd has %zd words, out has %zd", i, bufs[i].view.len / 4, W);
                goto done;
            }
        }
        char *dst = (char *)out.view.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t i = 0; i < n; i++) memcpy(dst + i * W * 4, bufs[i].view.buf, (size_t)W * 4);
        Py_END_ALLOW_THREADS
        Py_INCREF(Py_None);
        result = Py_None;
    }
done:
    if (bufs) {
        for (Py_ssize_t i = 0; i < n; i++) release(&bufs[i]);
        free(bufs);
    }
    release(&out);
    Py_DECREF(seq);
    return result;
}

/* ------------------------------------------------------------------------------------------- token trie */

static const uint8_t *g_sort_bm;
static const int64_t *g_sort_len;
static int64_t g_sort_w;

static int cmp_i64(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_tokens(const void *a, const void *b) {
    const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    const int64_t lx = g_sort_len[x], ly = g_sort_len[y];
    const int c = memcmp(g_sort_bm + x * g_sort_w, g_sort_bm + y * g_sort_w, (size_t)(lx < ly ? lx : ly));
    if (c) return c;
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : (x > y);
}

/* trie_build(bm uint8 [V, W], lengths int64 [V], ids int64 [N] (in: candidates, out: sorted by bytes),
 *            nbyte uint8 [cap], ndepth int32 [cap], nlo int32 [cap], nhi int32 [cap], nfull int32 [cap],
 *            nskip int32 [cap]) -> M
 *
 * Sorts ids by their bytes (ties: by id) and writes the token trie in preorder: node i is the prefix of length
 * ndepth[i] ending with byte nbyte[i], shared by ids[nlo[i]:nhi[i]], of which the first nfull[i] are exactly that
 * prefix; nskip[i] is the first node after its subtree. cap >= sum of the lengths suffices. Holds the GIL (qsort
 * uses module state). */
static PyObject *trie_build(PyObject *self, PyObject *args) {
    PyObject *o[9];
    if (!PyArg_ParseTuple(args, "OOOOOOOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &o[8]))
        return NULL;
    Buf bm = {0}, len = {0}, ids = {0}, nb = {0}, nd = {0}, nl = {0}, nh = {0}, nf = {0}, ns = {0};
    PyObject *result = NULL;
    int32_t *open = NULL;
    if (get_buf(o[0], &bm, 0, "BbB?", 1, "bm") < 0 || get_buf(o[1], &len, 0, "qlL", 8, "lengths") < 0 ||
        get_buf(o[2], &ids, 1, "qlL", 8, "ids") < 0 || get_buf(o[3], &nb, 1, "BbB?", 1, "nbyte") < 0 ||
        get_buf(o[4], &nd, 1, "iI", 4, "ndepth") < 0 || get_buf(o[5], &nl, 1, "iI", 4, "nlo") < 0 ||
        get_buf(o[6], &nh, 1, "iI", 4, "nhi") < 0 || get_buf(o[7], &nf, 1, "iI", 4, "nfull") < 0 ||
        get_buf(o[8], &ns, 1, "iI", 4, "nskip") < 0)
        goto done;
    if (bm.view.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "bm must be 2-dimensional");
        goto done;
    }
    {
        const int64_t V = bm.view.shape[0], W = bm.view.shape[1], N = ids.view.len / 8, cap = nb.view.len;
        const uint8_t *B = (const uint8_t *)bm.view.buf;
        const int64_t *L = (const int64_t *)len.view.buf;
        int64_t *I = (int64_t *)ids.view.buf;
        uint8_t *NB = (uint8_t *)nb.view.buf;
        int32_t *ND = (int32_t *)nd.view.buf, *NL = (int32_t *)nl.view.buf, *NH = (int32_t *)nh.view.buf,
                *NF = (int32_t *)nf.view.buf, *NS = (int32_t *)ns.view.buf;
        if (nd.view.len / 4 != cap || nl.view.len / 4 != cap || nh.view.len / 4 != cap || nf.view.len / 4 != cap ||
            ns.view.len / 4 != cap || len.view.len / 8 != V) {
            PyErr_SetString(PyExc_ValueError, "trie_build: node arrays of one capacity, lengths one per token");
            goto done;
        }
        int64_t need = 0;
        for (int64_t k = 0; k < N; k++) {
            if (I[k] < 0 || I[k] >= V || L[I[k]] <= 0 || L[I[k]] > W) {
                PyErr_Format(PyExc_ValueError, "trie_build: bad candidate token %lld", (long long)I[k]);
                goto done;
            }
            need += L[I[k]];
        }
        if (need > cap || N > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "trie_build: node capacity below the sum of the lengths");
            goto done;
        }
        g_sort_bm = B;
        g_sort_len = L;
        g_sort_w = W;
        qsort(I, (size_t)N, sizeof(int64_t), cmp_tokens);
        open = (int32_t *)malloc((size_t)(W + 1) * sizeof(int32_t)); /* open[d]: node at depth d on the path */
        if (!open) {
            PyErr_NoMemory();
            goto done;
        }
        int64_t M = 0, depth = 0; /* depth: how many nodes are open */
        for (int64_t k = 0; k < N; k++) {
            const int64_t t = I[k], n = L[t];
            int64_t lcp = 0;
            if (k > 0) {
                const int64_t p = I[k - 1], m = L[p] < n ? L[p] : n;
                while (lcp < m && B[p * W + lcp] == B[t * W + lcp]) lcp++;
            }
            while (depth > lcp) { /* close the nodes the new token leaves */
                const int32_t c = open[depth];
                NH[c] = (int32_t)k;
                NS[c] = (int32_t)M;
                depth--;
            }
            for (int64_t d = lcp; d < n; d++) {
                NB[M] = B[t * W + d];
                ND[M] = (int32_t)(d + 1);
                NL[M] = (int32_t)k;
                NF[M] = 0;
                open[d + 1] = (int32_t)M;
                M++;
            }
            depth = n;
            NF[open[n]]++;
        }
        while (depth > 0) {
            const int32_t c = open[depth];
            NH[c] = (int32_t)N;
            NS[c] = (int32_t)M;
            depth--;
        }
        result = PyLong_FromLongLong(M);
    }
done:
    free(open);
    RELEASE(&bm, &len, &ids, &nb, &nd, &nl, &nh, &nf, &ns);
    return result;
}

/* trie_table(nbyte, ndepth, nlo, nhi, nfull, nskip, ids (sorted), trans int32 [S, 256], acc uint8 [S], state,
 *            max_depth, inside uint8 [V] (out), end_ids int64 [cap] (out), end_offs int64 [cap] (out))
 *            -> number of ends
 *
 * Walks the trie from DFA state `state`: a token whose bytes keep the DFA alive to its end is marked in `inside`;
 * a token with bytes left after a prefix of length p at which the DFA accepts gets an end (token, p). A dead
 * branch is skipped whole. Returns -1 if cap is too small (nothing is promised about the outputs then). */
static PyObject *trie_table(PyObject *self, PyObject *args) {
    PyObject *o[13];
    long long state, maxd;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOLLOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &o[8],
                          &state, &maxd, &o[9], &o[10], &o[11]))
        return NULL;
    Buf nb = {0}, nd = {0}, nl = {0}, nh = {0}, nf = {0}, ns = {0}, ids = {0}, tr = {0}, ac = {0}, ins = {0},
        eid = {0}, eof = {0};
    PyObject *result = NULL;
    if (get_buf(o[0], &nb, 0, "BbB?", 1, "nbyte") < 0 || get_buf(o[1], &nd, 0, "iI", 4, "ndepth") < 0 ||
        get_buf(o[2], &nl, 0, "iI", 4, "nlo") < 0 || get_buf(o[3], &nh, 0, "iI", 4, "nhi") < 0 ||
        get_buf(o[4], &nf, 0, "iI", 4, "nfull") < 0 || get_buf(o[5], &ns, 0, "iI", 4, "nskip") < 0 ||
        get_buf(o[6], &ids, 0, "qlL", 8, "ids") < 0 || get_buf(o[7], &tr, 0, "iI", 4, "trans") < 0 ||
        get_buf(o[8], &ac, 0, "BbB?", 1, "acc") < 0 || get_buf(o[9], &ins, 1, "BbB?", 1, "inside") < 0 ||
        get_buf(o[10], &eid, 1, "qlL", 8, "end_ids") < 0 || get_buf(o[11], &eof, 1, "qlL", 8, "end_offs") < 0)
        goto done;
    {
        const int64_t M = nb.view.len, S = ac.view.len, cap = eid.view.len / 8, V = ins.view.len;
        const uint8_t *NB = (const uint8_t *)nb.view.buf, *A = (const uint8_t *)ac.view.buf;
        const int32_t *ND = (const int32_t *)nd.view.buf, *NL = (const int32_t *)nl.view.buf,
                      *NH = (const int32_t *)nh.view.buf, *NF = (const int32_t *)nf.view.buf,
                      *NS = (const int32_t *)ns.view.buf, *T = (const int32_t *)tr.view.buf;
        const int64_t *I = (const int64_t *)ids.view.buf;
        uint8_t *IN = (uint8_t *)ins.view.buf;
        int64_t *EI = (int64_t *)eid.view.buf, *EO = (int64_t *)eof.view.buf;
        if (tr.view.len / 4 != S * 256 || state < 0 || state >= S || eof.view.len / 8 != cap) {
            PyErr_SetString(PyExc_ValueError, "trie_table: trans [S, 256], acc [S], 0 <= state < S");
            goto done;
        }
        if (maxd < 0 || maxd > INT32_MAX) {
            PyErr_SetString(PyExc_ValueError, "trie_table: bad maximum depth");
            goto done;
        }
        int32_t *qs = (int32_t *)malloc((size_t)(maxd + 1) * sizeof(int32_t));
        if (!qs) {
            PyErr_NoMemory();
            goto done;
        }
        int64_t n_end = 0, i = 0;
        int overflow = 0;
        Py_BEGIN_ALLOW_THREADS
        qs[0] = (int32_t)state;
        while (i < M) {
            const int32_t d = ND[i];
            if (d < 1 || d > maxd) { /* a depth beyond the one promised: stop rather than write out of bounds */
                overflow = 2;
                break;
            }
            const int32_t q = T[(int64_t)qs[d - 1] * 256 + NB[i]];
            if (q < 0) {
                i = NS[i];
                continue;
            }
            qs[d] = q;
            const int32_t lo = NL[i], hi = NH[i], full = lo + NF[i];
            for (int32_t k = lo; k < full; k++)
                if (I[k] >= 0 && I[k] < V) IN[I[k]] = 1;
            if (A[q] && hi > full) {
                if (n_end + (hi - full) > cap) {
                    overflow = 1;
                    break;
                }
                for (int32_t k = full; k < hi; k++) {
                    EI[n_end] = I[k];
                    EO[n_end] = d;
                    n_end++;
                }
            }
            i++;
        }
        Py_END_ALLOW_THREADS
        free(qs);
        if (overflow == 2)
            PyErr_SetString(PyExc_ValueError, "trie_table: a node is deeper than the maximum depth given");
        else
            result = PyLong_FromLongLong(overflow ? -1 : n_end);
    }
done:
    RELEASE(&nb, &nd, &nl, &nh, &nf, &ns, &ids, &tr, &ac, &ins, &eid, &eof);
    return result;
}

/* run_suffixes(trans int32 [S, 256], acc uint8 [S], bm uint8 [V, W], lengths int64 [V], ids int64 [n],
 *              offs int64 [n], pos int64 [n], state, viable uint8 [P] (out), e_pos int64 [cap] (out),
 *              e_offs int64 [cap] (out)) -> number of ends, or -1 if cap is too small
 *
 * Runs the DFA from `state` over bm[ids[i], offs[i]:lengths[ids[i]]]: alive at the last byte -> viable[pos[i]] = 1;
 * accepting with bytes left after offset p -> an end (pos[i], p). */
static PyObject *run_suffixes(PyObject *self, PyObject *args) {
    PyObject *o[10];
    long long state;
    if (!PyArg_ParseTuple(args, "OOOOOOOLOOO", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &state, &o[7],
                          &o[8], &o[9]))
        return NULL;
    Buf tr = {0}, ac = {0}, bm = {0}, len = {0}, ids = {0}, offs = {0}, pos = {0}, via = {0}, ep = {0}, eo = {0};
    PyObject *result = NULL;
    if (get_buf(o[0], &tr, 0, "iI", 4, "trans") < 0 || get_buf(o[1], &ac, 0, "BbB?", 1, "acc") < 0 ||
        get_buf(o[2], &bm, 0, "BbB?", 1, "bm") < 0 || get_buf(o[3], &len, 0, "qlL", 8, "lengths") < 0 ||
        get_buf(o[4], &ids, 0, "qlL", 8, "ids") < 0 || get_buf(o[5], &offs, 0, "qlL", 8, "offs") < 0 ||
        get_buf(o[6], &pos, 0, "qlL", 8, "pos") < 0 || get_buf(o[7], &via, 1, "BbB?", 1, "viable") < 0 ||
        get_buf(o[8], &ep, 1, "qlL", 8, "e_pos") < 0 || get_buf(o[9], &eo, 1, "qlL", 8, "e_offs") < 0)
        goto done;
    if (bm.view.ndim != 2) {
        PyErr_SetString(PyExc_ValueError, "bm must be 2-dimensional");
        goto done;
    }
    {
        const int64_t S = ac.view.len, V = bm.view.shape[0], W = bm.view.shape[1], n = ids.view.len / 8;
        const int64_t P = via.view.len, cap = ep.view.len / 8;
        const int32_t *T = (const int32_t *)tr.view.buf;
        const uint8_t *A = (const uint8_t *)ac.view.buf, *B = (const uint8_t *)bm.view.buf;
        const int64_t *L = (const int64_t *)len.view.buf, *ID = (const int64_t *)ids.view.buf,
                      *OF = (const int64_t *)offs.view.buf, *PO = (const int64_t *)pos.view.buf;
        uint8_t *VI = (uint8_t *)via.view.buf;
        int64_t *EP = (int64_t *)ep.view.buf, *EO = (int64_t *)eo.view.buf;
        if (tr.view.len / 4 != S * 256 || state < 0 || state >= S || offs.view.len / 8 != n ||
            pos.view.len / 8 != n || eo.view.len / 8 != cap || len.view.len / 8 != V) {
            PyErr_SetString(PyExc_ValueError, "run_suffixes: inconsistent array shapes");
            goto done;
        }
        for (int64_t i = 0; i < n; i++) {
            if (ID[i] < 0 || ID[i] >= V || OF[i] < 0 || OF[i] >= L[ID[i]] || L[ID[i]] > W || PO[i] < 0 ||
                PO[i] >= P) {
                PyErr_Format(PyExc_ValueError, "run_suffixes: bad entry %lld", (long long)i);
                goto done;
            }
        }
        int64_t c = 0;
        int overflow = 0;
        Py_BEGIN_ALLOW_THREADS
        for (int64_t i = 0; i < n && !overflow; i++) {
            const int64_t t = ID[i], end = L[t];
            const uint8_t *row = B + t * W;
            int32_t q = (int32_t)state;
            for (int64_t off = OF[i]; off < end; off++) {
                q = T[(int64_t)q * 256 + row[off]];
                if (q < 0) break;
                if (off + 1 == end) {
                    VI[PO[i]] = 1;
                    break;
                }
                if (A[q]) {
                    if (c >= cap) {
                        overflow = 1;
                        break;
                    }
                    EP[c] = PO[i];
                    EO[c] = off + 1;
                    c++;
                }
            }
        }
        Py_END_ALLOW_THREADS
        result = PyLong_FromLongLong(overflow ? -1 : c);
    }
done:
    RELEASE(&tr, &ac, &bm, &len, &ids, &offs, &pos, &via, &ep, &eo);
    return result;
}

/* -------------------------------------------------------------------------------- subset construction */

typedef struct {
    int32_t *data;
    int64_t len, cap;
} I32Vec;

static int vec_push(I32Vec *v, int32_t x) {
    if (v->len == v->cap) {
        int64_t cap = v->cap ? v->cap * 2 : 1024;
        int32_t *d = (int32_t *)realloc(v->data, (size_t)cap * sizeof(int32_t));
        if (!d) return -1;
        v->data = d;
        v->cap = cap;
    }
    v->data[v->len++] = x;
    return 0;
}

static int cmp_i32(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

#define POOL_PER_STATE 400 /* nfa.py _POOL_PER_STATE: the same bound in the Python specification */

typedef struct {
    /* the NFA */
    const int64_t *eps_start, *eps_to, *edge_start, *edge_leaf, *edge_to, *leaf_start, *leaf_class;
    int64_t n_nfa, n_classes, max_states;
    double deadline; /* CLOCK_MONOTONIC seconds past which the construction stops (the compile budget) */
    /* DFA states: sets in a pool (sorted NFA states), set i at pool[set_start[i] .. set_start[i + 1]) */
    I32Vec pool, set_start, trans;
    int64_t *slots;
    uint64_t cap;
    uint64_t *hashes;
    int64_t n_sets, hashes_cap;
    /* scratch */
    int64_t *stamp, generation;
    int32_t *stack;
} Subset;

static uint64_t hash_set(const int32_t *p, int64_t n) {
    uint64_t h = 1469598103934665603ULL;
    for (int64_t i = 0; i < n; i++) h = (h ^ (uint64_t)(uint32_t)p[i]) * 1099511628211ULL;
    return h ^ (uint64_t)n;
}

/* closure of seeds[0..n) into out (sorted, distinct); returns its size */
static int64_t closure(Subset *S, const int32_t *seeds, int64_t n, int32_t *out) {
    int64_t top = 0, m = 0;
    S->generation++;
    for (int64_t i = 0; i < n; i++) {
        if (S->stamp[seeds[i]] == S->generation) continue;
        S->stamp[seeds[i]] = S->generation;
        S->stack[top++] = seeds[i];
    }
    while (top > 0) {
        const int32_t q = S->stack[--top];
        out[m++] = q;
        for (int64_t k = S->eps_start[q]; k < S->eps_start[q + 1]; k++) {
            const int64_t t = S->eps_to[k];
            if (S->stamp[t] != S->generation) {
                S->stamp[t] = S->generation;
                S->stack[top++] = (int32_t)t;
            }
        }
    }
    qsort(out, (size_t)m, sizeof(int32_t), cmp_i32);
    return m;
}

static int grow_table(Subset *S) {
    uint64_t cap = S->cap * 2;
    int64_t *slots = (int64_t *)malloc(cap * sizeof(int64_t));
    if (!slots) return -1;
    for (uint64_t i = 0; i < cap; i++) slots[i] = -1;
    for (int64_t j = 0; j < S->n_sets; j++) {
        uint64_t h = S->hashes[j] & (cap - 1);
        while (slots[h] >= 0) h = (h + 1) & (cap - 1);
        slots[h] = j;
    }
    free(S->slots);
    S->slots = slots;
    S->cap = cap;
    return 0;
}

/* the id of the DFA state of set[0..m), adding it if new; -1 out of memory, -2 too many states */
static int64_t intern_set(Subset *S, const int32_t *set, int64_t m) {
    const uint64_t h = hash_set(set, m);
    uint64_t k = h & (S->cap - 1);
    for (;;) {
        const int64_t j = S->slots[k];
        if (j < 0) break;
        const int64_t a = S->set_start.data[j], b = S->set_start.data[j + 1];
        if (S->hashes[j] == h && b - a == m && memcmp(S->pool.data + a, set, (size_t)m * sizeof(int32_t)) == 0)
            return j;
        k = (k + 1) & (S->cap - 1);
    }
    /* past max_states DFA states, or past POOL_PER_STATE * max_states NFA states summed over all the subsets: the
     * subsets of `.*a{n}` grow with n, so the work and memory are quadratic well before the state limit */
    if (S->n_sets >= S->max_states || (int64_t)S->pool.len + m > S->max_states * POOL_PER_STATE) return -2;
    const int64_t j = S->n_sets++;
    if (j >= S->hashes_cap) {
        int64_t c = S->hashes_cap ? S->hashes_cap * 2 : 1024;
        uint64_t *hs = (uint64_t *)realloc(S->hashes, (size_t)c * sizeof(uint64_t));
        if (!hs) return -1;
        S->hashes = hs;
        S->hashes_cap = c;
    }
    S->hashes[j] = h;
    S->slots[k] = j;
    for (int64_t i = 0; i < m; i++)
        if (vec_push(&S->pool, set[i]) < 0) return -1;
    if (vec_push(&S->set_start, (int32_t)S->pool.len) < 0) return -1;
    if ((uint64_t)S->n_sets * 2 > S->cap && grow_table(S) < 0) return -1;
    return j;
}

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* determinize(eps_start, eps_to, edge_start, edge_leaf, edge_to, leaf_start, leaf_class, start, final, n_classes,
 *             max_states[, max_seconds]) -> (transitions bytes of int32 [m, n_classes], accepting bytes of uint8 [m])
 *             or None when the DFA would have more than max_states states, or its subsets more than
 *             POOL_PER_STATE * max_states NFA states in all, or False after max_seconds (the compile budget's
 *             time left; checked every 256 DFA states).
 *
 * Subset construction over an NFA with epsilon edges (CSR eps_start/eps_to) and leaf-labelled edges (CSR
 * edge_start, edge_leaf/edge_to), leaves expanding to character classes (CSR leaf_start/leaf_class). DFA states
 * are numbered in order of discovery (breadth first, classes in increasing order), as the Python version does. */
static PyObject *determinize(PyObject *self, PyObject *args) {
    PyObject *o[7];
    long long start, final, n_classes, max_states;
    double max_seconds = 1e300;
    if (!PyArg_ParseTuple(args, "OOOOOOOLLLL|d", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &start, &final,
                          &n_classes, &max_states, &max_seconds))
        return NULL;
    Buf b[7] = {{0}};
    const char *names[7] = {"eps_start", "eps_to", "edge_start", "edge_leaf", "edge_to", "leaf_start", "leaf_class"};
    PyObject *result = NULL;
    Subset S;
    memset(&S, 0, sizeof(S));
    int32_t *buf = NULL, *set = NULL;
    int64_t *count = NULL, *cstart = NULL, *touched = NULL;
    int32_t *bucket = NULL;
    for (int i = 0; i < 7; i++)
        if (get_buf(o[i], &b[i], 0, "qlL", 8, names[i]) < 0) goto done;
    S.eps_start = (const int64_t *)b[0].view.buf;
    S.eps_to = (const int64_t *)b[1].view.buf;
    S.edge_start = (const int64_t *)b[2].view.buf;
    S.edge_leaf = (const int64_t *)b[3].view.buf;
    S.edge_to = (const int64_t *)b[4].view.buf;
    S.leaf_start = (const int64_t *)b[5].view.buf;
    S.leaf_class = (const int64_t *)b[6].view.buf;
    S.n_nfa = b[0].view.len / 8 - 1;
    S.n_classes = n_classes;
    S.max_states = max_states;
    S.deadline = monotonic_seconds() + max_seconds;
    {
        const int64_t n = S.n_nfa, n_leaves = b[5].view.len / 8 - 1;
        int ok = n >= 1 && b[2].view.len / 8 == n + 1 && start >= 0 && start < n && final >= 0 && final < n &&
                 n_classes >= 0 && n_leaves >= 0 && S.eps_start[0] == 0 && S.edge_start[0] == 0 &&
                 S.eps_start[n] == b[1].view.len / 8 && S.edge_start[n] == b[3].view.len / 8 &&
                 b[3].view.len == b[4].view.len && S.leaf_start[0] == 0 && S.leaf_start[n_leaves] == b[6].view.len / 8;
        for (int64_t i = 0; ok && i < n; i++) ok = S.eps_start[i] <= S.eps_start[i + 1] && S.edge_start[i] <= S.edge_start[i + 1];
        for (int64_t i = 0; ok && i < b[1].view.len / 8; i++) ok = S.eps_to[i] >= 0 && S.eps_to[i] < n;
        for (int64_t i = 0; ok && i < b[3].view.len / 8; i++)
            ok = S.edge_leaf[i] >= 0 && S.edge_leaf[i] < n_leaves && S.edge_to[i] >= 0 && S.edge_to[i] < n;
        for (int64_t i = 0; ok && i < n_leaves; i++) ok = S.leaf_start[i] <= S.leaf_start[i + 1];
        for (int64_t i = 0; ok && i < b[6].view.len / 8; i++) ok = S.leaf_class[i] >= 0 && S.leaf_class[i] < n_classes;
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "determinize: malformed NFA arrays");
            goto done;
        }
    }
    S.cap = 1024;
    S.slots = (int64_t *)malloc(S.cap * sizeof(int64_t));
    S.stamp = (int64_t *)calloc((size_t)S.n_nfa, sizeof(int64_t));
    S.stack = (int32_t *)malloc((size_t)S.n_nfa * sizeof(int32_t));
    buf = (int32_t *)malloc((size_t)S.n_nfa * sizeof(int32_t));
    set = (int32_t *)malloc((size_t)S.n_nfa * sizeof(int32_t));
    count = (int64_t *)calloc((size_t)n_classes + 1, sizeof(int64_t));
    cstart = (int64_t *)malloc((size_t)(n_classes + 1) * sizeof(int64_t));
    touched = (int64_t *)malloc(((size_t)n_classes + 1) * sizeof(int64_t));
    if (!S.slots || !S.stamp || !S.stack || !buf || !set || !count || !cstart || !touched ||
        vec_push(&S.set_start, 0) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (uint64_t i = 0; i < S.cap; i++) S.slots[i] = -1;
    int64_t status = 0; /* 0 ok, -1 no memory, -2 too many states, -3 out of time */
    Py_BEGIN_ALLOW_THREADS
    {
        int32_t seed = (int32_t)start;
        int64_t m = closure(&S, &seed, 1, set);
        if (intern_set(&S, set, m) < 0) status = -1;
        int64_t bucket_cap = 0;
        for (int64_t i = 0; status == 0 && i < S.n_sets; i++) {
            if ((i & 255) == 255 && monotonic_seconds() > S.deadline) {
                status = -3;
                break;
            }
            /* (class, target) moves of set i, bucketed by class */
            const int64_t a = S.set_start.data[i], z = S.set_start.data[i + 1];
            int64_t n_moves = 0, nt = 0;
            for (int64_t p = a; p < z; p++) {
                const int32_t q = S.pool.data[p];
                for (int64_t e = S.edge_start[q]; e < S.edge_start[q + 1]; e++) {
                    const int64_t leaf = S.edge_leaf[e];
                    for (int64_t c = S.leaf_start[leaf]; c < S.leaf_start[leaf + 1]; c++) {
                        if (count[S.leaf_class[c]]++ == 0) touched[nt++] = S.leaf_class[c];
                        n_moves++;
                    }
                }
            }
            if (n_moves > bucket_cap) {
                bucket_cap = n_moves * 2;
                int32_t *nb = (int32_t *)realloc(bucket, (size_t)bucket_cap * sizeof(int32_t));
                if (!nb) {
                    status = -1;
                    break;
                }
                bucket = nb;
            }
            qsort(touched, (size_t)nt, sizeof(int64_t), cmp_i64);
            int64_t acc = 0;
            for (int64_t k = 0; k < nt; k++) {
                cstart[k] = acc;
                acc += count[touched[k]];
                count[touched[k]] = cstart[k]; /* becomes the fill position */
            }
            for (int64_t p = a; p < z; p++) {
                const int32_t q = S.pool.data[p];
                for (int64_t e = S.edge_start[q]; e < S.edge_start[q + 1]; e++) {
                    const int64_t leaf = S.edge_leaf[e];
                    for (int64_t c = S.leaf_start[leaf]; c < S.leaf_start[leaf + 1]; c++)
                        bucket[count[S.leaf_class[c]]++] = (int32_t)S.edge_to[e];
                }
            }
            int64_t row = S.trans.len;
            for (int64_t c = 0; c < n_classes; c++)
                if (vec_push(&S.trans, -1) < 0) {
                    status = -1;
                    break;
                }
            for (int64_t k = 0; status == 0 && k < nt; k++) {
                const int64_t cls = touched[k], lo = cstart[k], hi = count[cls];
                const int64_t mm = closure(&S, bucket + lo, hi - lo, set);
                const int64_t j = intern_set(&S, set, mm);
                if (j < 0) {
                    status = j;
                    break;
                }
                S.trans.data[row + cls] = (int32_t)j;
            }
            for (int64_t k = 0; k < nt; k++) count[touched[k]] = 0;
        }
    }
    Py_END_ALLOW_THREADS
    if (status == -1) {
        PyErr_NoMemory();
        goto done;
    }
    if (status == -2) {
        Py_INCREF(Py_None);
        result = Py_None;
        goto done;
    }
    if (status == -3) {
        Py_INCREF(Py_False);
        result = Py_False;
        goto done;
    }
    {
        PyObject *t = PyBytes_FromStringAndSize((const char *)S.trans.data, (Py_ssize_t)(S.trans.len * 4));
        PyObject *acc = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)S.n_sets);
        if (!t || !acc) {
            Py_XDECREF(t);
            Py_XDECREF(acc);
            goto done;
        }
        char *A = PyBytes_AS_STRING(acc);
        for (int64_t j = 0; j < S.n_sets; j++) {
            const int64_t a = S.set_start.data[j], z = S.set_start.data[j + 1];
            A[j] = 0;
            for (int64_t p = a; p < z; p++)
                if (S.pool.data[p] == (int32_t)final) A[j] = 1;
        }
        result = Py_BuildValue("(NN)", t, acc);
    }
done:
    for (int i = 0; i < 7; i++) release(&b[i]);
    free(S.slots);
    free(S.stamp);
    free(S.stack);
    free(S.hashes);
    free(S.pool.data);
    free(S.set_start.data);
    free(S.trans.data);
    free(buf);
    free(set);
    free(count);
    free(cstart);
    free(touched);
    free(bucket);
    return result;
}

/* ------------------------------------------------------------------------------------ DFA minimisation */

/* Hopcroft's algorithm on a complete automaton: states 0..N-1 (N-1 is the sink), symbols 0..w-1, T[s*w+a] the
 * successor, blk[s] the initial block (0..nb-1). On return blk holds the coarsest stable refinement. Returns the
 * number of blocks, or -1 when out of memory. O(w N log N). */
static int64_t hopcroft(const int64_t *T, int64_t N, int64_t w, int64_t *blk, int64_t nb) {
    int64_t *pstart = (int64_t *)calloc((size_t)(w * (N + 1) + 1), sizeof(int64_t));
    int64_t *pred = (int64_t *)malloc((size_t)(N * w + 1) * sizeof(int64_t));
    int64_t *elem = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *loc = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *first = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *end = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *marked = (int64_t *)calloc((size_t)(N + 1), sizeof(int64_t));
    int64_t *touched = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t *work = (int64_t *)malloc((size_t)(N * w + w + 1) * 2 * sizeof(int64_t));
    uint8_t *inw = (uint8_t *)calloc((size_t)((N + 1) * w + 1), 1);
    int64_t *members = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t result = -1;
    if (!pstart || !pred || !elem || !loc || !first || !end || !marked || !touched || !work || !inw || !members)
        goto out;
    /* predecessors by (symbol, target), CSR */
    for (int64_t s = 0; s < N; s++)
        for (int64_t a = 0; a < w; a++) pstart[a * (N + 1) + T[s * w + a] + 1]++;
    for (int64_t i = 1; i <= w * (N + 1); i++) pstart[i] += pstart[i - 1];
    {
        int64_t *fill = (int64_t *)malloc((size_t)(w * (N + 1) + 1) * sizeof(int64_t));
        if (!fill) goto out;
        memcpy(fill, pstart, (size_t)(w * (N + 1) + 1) * sizeof(int64_t));
        for (int64_t s = 0; s < N; s++)
            for (int64_t a = 0; a < w; a++) pred[fill[a * (N + 1) + T[s * w + a]]++] = s;
        free(fill);
    }
    /* blocks as ranges of elem, counting sort by initial block */
    for (int64_t b = 0; b <= nb; b++) first[b] = 0;
    for (int64_t s = 0; s < N; s++) first[blk[s] + 1]++;
    for (int64_t b = 1; b <= nb; b++) first[b] += first[b - 1];
    for (int64_t b = 0; b < nb; b++) end[b] = first[b];
    for (int64_t s = 0; s < N; s++) {
        elem[end[blk[s]]] = s;
        loc[s] = end[blk[s]]++;
    }
    int64_t n_blocks = nb, top = 0;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t a = 0; a < w; a++) {
            work[2 * top] = b;
            work[2 * top + 1] = a;
            top++;
            inw[b * w + a] = 1;
        }
    while (top > 0) {
        top--;
        const int64_t B = work[2 * top], a = work[2 * top + 1];
        inw[B * w + a] = 0;
        int64_t nm = 0, nt = 0;
        for (int64_t i = first[B]; i < end[B]; i++) members[nm++] = elem[i];
        for (int64_t i = 0; i < nm; i++) {
            const int64_t q = members[i];
            for (int64_t k = pstart[a * (N + 1) + q]; k < pstart[a * (N + 1) + q + 1]; k++) {
                const int64_t p = pred[k], C = blk[p];
                if (loc[p] < first[C] + marked[C]) continue; /* already marked */
                if (marked[C] == 0) touched[nt++] = C;
                const int64_t pos = first[C] + marked[C], other = elem[pos];
                elem[pos] = p;
                elem[loc[p]] = other;
                loc[other] = loc[p];
                loc[p] = pos;
                marked[C]++;
            }
        }
        for (int64_t i = 0; i < nt; i++) {
            const int64_t C = touched[i], m = marked[C];
            marked[C] = 0;
            if (m == end[C] - first[C]) continue;
            const int64_t D = n_blocks++; /* the marked part becomes D */
            first[D] = first[C];
            end[D] = first[C] + m;
            first[C] += m;
            for (int64_t j = first[D]; j < end[D]; j++) blk[elem[j]] = D;
            const int64_t small = (end[D] - first[D]) <= (end[C] - first[C]) ? D : C;
            for (int64_t c = 0; c < w; c++) {
                if (inw[C * w + c]) {
                    work[2 * top] = D;
                    work[2 * top + 1] = c;
                    top++;
                    inw[D * w + c] = 1;
                } else {
                    work[2 * top] = small;
                    work[2 * top + 1] = c;
                    top++;
                    inw[small * w + c] = 1;
                }
            }
        }
    }
    result = n_blocks;
out:
    free(pstart);
    free(pred);
    free(elem);
    free(loc);
    free(first);
    free(end);
    free(marked);
    free(touched);
    free(work);
    free(inw);
    free(members);
    return result;
}

#define HOPCROFT_MAX_CELLS (1LL << 24)

/* The coarsest stable refinement of P (dead states: P < 0) by Hopcroft's algorithm: a sink state takes the dead
 * transitions and shares a block with the dead states; live blocks are renumbered in order of first appearance.
 * Returns the number of live blocks, or -1 when out of memory. Runs with the GIL released. */
static int64_t refine_hopcroft(const int64_t *T, int64_t n, int64_t w, int64_t *P) {
    const int64_t N = n + 1, sink = n;
    int64_t *TT = (int64_t *)malloc((size_t)(N * w) * sizeof(int64_t));
    int64_t *blk = (int64_t *)malloc((size_t)N * sizeof(int64_t));
    int64_t *num = (int64_t *)malloc((size_t)(N + 1) * sizeof(int64_t));
    int64_t live_blocks = -1;
    if (!TT || !blk || !num) goto out;
    Py_BEGIN_ALLOW_THREADS
    /* initial blocks: live values of P renumbered 0.., then one block for the sink and the dead states */
    int64_t nb = 0;
    {
        uint64_t cap = next_pow2((uint64_t)N * 2 + 16);
        int64_t *keys = (int64_t *)malloc(cap * sizeof(int64_t) * 2);
        if (keys) {
            for (uint64_t i = 0; i < cap; i++) keys[2 * i] = -1;
            for (int64_t s = 0; s < n; s++) {
                if (P[s] < 0) continue;
                uint64_t h = ((uint64_t)P[s] * 0x9E3779B97F4A7C15ULL) & (cap - 1);
                while (keys[2 * h] >= 0 && keys[2 * h] != P[s]) h = (h + 1) & (cap - 1);
                if (keys[2 * h] < 0) {
                    keys[2 * h] = P[s];
                    keys[2 * h + 1] = nb++;
                }
                blk[s] = keys[2 * h + 1];
            }
            free(keys);
        } else {
            nb = -1;
        }
    }
    if (nb >= 0) {
        for (int64_t s = 0; s < n; s++) {
            const int dead = P[s] < 0;
            if (dead) blk[s] = nb;
            for (int64_t a = 0; a < w; a++) {
                const int64_t d = T[s * w + a];
                TT[s * w + a] = (dead || d < 0 || P[d] < 0) ? sink : d;
            }
        }
        for (int64_t a = 0; a < w; a++) TT[sink * w + a] = sink;
        blk[sink] = nb;
        int64_t total = hopcroft(TT, N, w, blk, nb + 1);
        if (total >= 0) {
            const int64_t dead_block = blk[sink];
            for (int64_t b = 0; b <= total; b++) num[b] = -1;
            live_blocks = 0;
            for (int64_t s = 0; s < n; s++) {
                const int64_t b = blk[s];
                if (b == dead_block) {
                    P[s] = -1;
                    continue;
                }
                if (num[b] < 0) num[b] = live_blocks++;
                P[s] = num[b];
            }
        }
    }
    Py_END_ALLOW_THREADS
out:
    free(TT);
    free(blk);
    free(num);
    return live_blocks;
}

/* refine_partition(t int64 [n, w], part int64 [n] (in/out)[, method]) -> number of blocks
 *
 * Moore partition refinement to the coarsest stable partition: states with part[s] < 0 are dead and stay -1; a
 * live state's signature is (part[s], part[t[s][j]] or -1 for each j), and rounds renumber the live states by
 * signature (in order of first appearance) until the number of blocks stops growing. Exact: signatures are
 * compared, not only hashed. */
static PyObject *refine_partition(PyObject *self, PyObject *args) {
    PyObject *o_t, *o_part;
    int method = 0; /* 0: Hopcroft when the tables are small enough, else Moore; 1: Moore; 2: Hopcroft */
    long long rounds = -1; /* >= 0: Moore's rounds, at most this many (the partition of depth-bounded behaviour) */
    if (!PyArg_ParseTuple(args, "OO|iL", &o_t, &o_part, &method, &rounds)) return NULL;
    if (rounds >= 0) method = 1;
    Buf tb = {0}, pb = {0};
    PyObject *result = NULL;
    if (get_buf(o_t, &tb, 0, "qlL", 8, "t") < 0 || get_buf(o_part, &pb, 1, "qlL", 8, "part") < 0) goto done;
    if (tb.view.ndim != 2 || pb.view.len / 8 != tb.view.shape[0]) {
        PyErr_SetString(PyExc_ValueError, "refine_partition: t [n, w] and part [n]");
        goto done;
    }
    {
        const int64_t n = tb.view.shape[0], w = tb.view.shape[1];
        const int64_t *T = (const int64_t *)tb.view.buf;
        int64_t *P = (int64_t *)pb.view.buf;
        for (int64_t i = 0; i < n * w; i++) {
            if (T[i] >= n) {
                PyErr_SetString(PyExc_ValueError, "refine_partition: a transition leaves the table");
                goto done;
            }
        }
        if (n > 0 && method != 1 && (method == 2 || n * w <= HOPCROFT_MAX_CELLS)) {
            int64_t rc = refine_hopcroft(T, n, w, P);
            if (rc < 0) {
                PyErr_NoMemory();
                goto done;
            }
            result = PyLong_FromLongLong(rc);
            goto done;
        }
        const int64_t sw = w + 1;
        int64_t *sig = (int64_t *)malloc((size_t)(n ? n : 1) * (size_t)sw * sizeof(int64_t));
        int64_t *nxt = (int64_t *)malloc((size_t)(n ? n : 1) * sizeof(int64_t));
        uint64_t *hs = (uint64_t *)malloc((size_t)(n ? n : 1) * sizeof(uint64_t));
        uint64_t cap = next_pow2((uint64_t)n * 2 + 16);
        int64_t *slots = (int64_t *)malloc(cap * sizeof(int64_t));
        if (!sig || !nxt || !hs || !slots) {
            free(sig);
            free(nxt);
            free(hs);
            free(slots);
            PyErr_NoMemory();
            goto done;
        }
        int64_t blocks = -1;
        Py_BEGIN_ALLOW_THREADS
        for (long long round = 0; rounds < 0 || round < rounds; round++) {
            for (uint64_t i = 0; i < cap; i++) slots[i] = -1;
            int64_t k = 0;
            for (int64_t s = 0; s < n; s++) {
                if (P[s] < 0) {
                    nxt[s] = -1;
                    continue;
                }
                int64_t *g = sig + s * sw;
                g[0] = P[s];
                for (int64_t j = 0; j < w; j++) {
                    const int64_t d = T[s * w + j];
                    g[j + 1] = d >= 0 ? P[d] : -1;
                }
                uint64_t h = 1469598103934665603ULL;
                for (int64_t j = 0; j < sw; j++) h = (h ^ (uint64_t)g[j]) * 1099511628211ULL;
                hs[s] = h;
                uint64_t q = h & (cap - 1);
                for (;;) {
                    const int64_t r = slots[q];
                    if (r < 0) {
                        slots[q] = s;
                        nxt[s] = k++;
                        break;
                    }
                    if (hs[r] == h && memcmp(sig + r * sw, g, (size_t)sw * sizeof(int64_t)) == 0) {
                        nxt[s] = nxt[r];
                        break;
                    }
                    q = (q + 1) & (cap - 1);
                }
            }
            memcpy(P, nxt, (size_t)n * sizeof(int64_t));
            if (k == blocks) break;
            blocks = k;
        }
        Py_END_ALLOW_THREADS
        free(sig);
        free(nxt);
        free(hs);
        free(slots);
        result = PyLong_FromLongLong(blocks);
    }
done:
    RELEASE(&tb, &pb);
    return result;
}

/* Classes of the equal columns of a row-major [n, w] table (numbered in order of their first column): cls[j]
 * and, per class, its first column first[c]. Two passes: a multiply-add hash per column, then an exact check of
 * every column against its class's first column. Returns the number of classes, or -1 on a hash collision. */
#define DEFINE_COLUMN_CLASSES(NAME, TYPE)                                                         \
    static int64_t NAME(const TYPE *T, int64_t n, int64_t w, int64_t *cls, int64_t *first, uint64_t *h) { \
        int64_t k = 0;                                                                            \
        for (int64_t j = 0; j < w; j++) h[j] = 0x9E3779B97F4A7C15ULL;                             \
        for (int64_t s = 0; s < n; s++)                                                           \
            for (int64_t j = 0; j < w; j++) h[j] = h[j] * 0x100000001B3ULL + (uint64_t)T[s * w + j]; \
        for (int64_t j = 0; j < w; j++) {                                                         \
            int64_t c = -1;                                                                       \
            for (int64_t b = 0; b < k && c < 0; b++)                                              \
                if (h[first[b]] == h[j]) c = b;                                                   \
            if (c < 0) {                                                                          \
                c = k++;                                                                          \
                first[c] = j;                                                                     \
            }                                                                                     \
            cls[j] = c;                                                                           \
        }                                                                                         \
        for (int64_t s = 0; s < n; s++) {                                                         \
            const TYPE *row = T + s * w;                                                          \
            for (int64_t j = 0; j < w; j++)                                                       \
                if (row[j] != row[first[cls[j]]]) return -1;                                      \
        }                                                                                         \
        return k;                                                                                 \
    }
DEFINE_COLUMN_CLASSES(column_classes_i32, int32_t)
DEFINE_COLUMN_CLASSES(column_classes_i64, int64_t)

/* column_classes(t int32 [n, w], out int64 [w]) -> number of classes, or -1 on a hash collision
 *
 * Columns j of t that are equal (t[s][j] equal for every row s) share a class; classes are numbered in order of
 * their first column. Two row-major passes: a multiply-add hash per column, then an exact check that every
 * column equals the first column of its class (-1 when one does not: the caller falls back to sorting). */
static PyObject *column_classes(PyObject *self, PyObject *args) {
    PyObject *o_t, *o_out;
    if (!PyArg_ParseTuple(args, "OO", &o_t, &o_out)) return NULL;
    Buf tb = {0}, ob = {0};
    PyObject *result = NULL;
    if (get_buf(o_t, &tb, 0, "i", 4, "t") < 0 || get_buf(o_out, &ob, 1, "qlL", 8, "out") < 0) goto done;
    if (tb.view.ndim != 2 || ob.view.len / 8 != tb.view.shape[1]) {
        PyErr_SetString(PyExc_ValueError, "column_classes: t [n, w] and out [w]");
        goto done;
    }
    {
        const int64_t n = tb.view.shape[0], w = tb.view.shape[1];
        uint64_t *h = (uint64_t *)malloc((size_t)(w ? w : 1) * sizeof(uint64_t));
        int64_t *first = (int64_t *)malloc((size_t)(w ? w : 1) * sizeof(int64_t));
        if (!h || !first) {
            free(h);
            free(first);
            PyErr_NoMemory();
            goto done;
        }
        int64_t k;
        Py_BEGIN_ALLOW_THREADS
        k = column_classes_i32((const int32_t *)tb.view.buf, n, w, (int64_t *)ob.view.buf, first, h);
        Py_END_ALLOW_THREADS
        free(h);
        free(first);
        result = PyLong_FromLongLong(k);
    }
done:
    RELEASE(&tb, &ob);
    return result;
}

/* minimize_dfa(t int64 [n, w], acc uint8 [n], out_t int32 [n, w], out_acc uint8 [n]) -> m (w <= 256)
 *
 * corral.automata.bytedfa.minimize_tables in one call: drop the states that cannot reach an accepting state,
 * merge equivalent states (refine_hopcroft), and number the states of the quotient breadth-first from the
 * start's block, bytes in increasing order (new states in order of first appearance). Writes m rows and returns
 * m; 0 for the empty language (the start state cannot accept anything). The tests compare it with the numpy
 * version, table for table. */
static PyObject *minimize_dfa(PyObject *self, PyObject *args) {
    PyObject *o_t, *o_acc, *o_ot, *o_oacc;
    if (!PyArg_ParseTuple(args, "OOOO", &o_t, &o_acc, &o_ot, &o_oacc)) return NULL;
    Buf tb = {0}, ab = {0}, otb = {0}, oab = {0};
    PyObject *result = NULL;
    int64_t *preds = NULL, *start = NULL, *queue = NULL, *T = NULL, *R = NULL, *P = NULL, *rep = NULL, *pos = NULL;
    uint8_t *live = NULL;
    if (get_buf(o_t, &tb, 0, "qlL", 8, "t") < 0 || get_buf(o_acc, &ab, 0, "B?", 1, "acc") < 0 ||
        get_buf(o_ot, &otb, 1, "i", 4, "out_t") < 0 || get_buf(o_oacc, &oab, 1, "B?", 1, "out_acc") < 0)
        goto done;
    const int64_t n = tb.view.ndim == 2 ? tb.view.shape[0] : -1, w = tb.view.ndim == 2 ? tb.view.shape[1] : 0;
    if (n < 0 || w < 1 || w > 256 || ab.view.len != n || otb.view.len / 4 != n * w || oab.view.len != n) {
        PyErr_SetString(PyExc_ValueError, "minimize_dfa: t [n, w <= 256], acc [n], out_t [n, w], out_acc [n]");
        goto done;
    }
    const int64_t *t = (const int64_t *)tb.view.buf;
    const uint8_t *acc = (const uint8_t *)ab.view.buf;
    int32_t *ot = (int32_t *)otb.view.buf;
    uint8_t *oacc = (uint8_t *)oab.view.buf;
    if (n == 0) {
        result = PyLong_FromLongLong(0);
        goto done;
    }
    for (int64_t i = 0; i < n * w; i++)
        if (t[i] >= n) {
            PyErr_SetString(PyExc_ValueError, "minimize_dfa: a transition leaves the table");
            goto done;
        }
    start = (int64_t *)calloc((size_t)n + 1, sizeof(int64_t));
    preds = (int64_t *)malloc((size_t)(n * w) * sizeof(int64_t));
    queue = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    live = (uint8_t *)calloc((size_t)n, 1);
    T = (int64_t *)malloc((size_t)(n * w) * sizeof(int64_t));
    P = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    rep = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    pos = (int64_t *)malloc((size_t)n * sizeof(int64_t));
    if (!start || !preds || !queue || !live || !T || !P || !rep || !pos) {
        PyErr_NoMemory();
        goto done;
    }
    /* live states: backward breadth-first search from the accepting states over the predecessor lists */
    for (int64_t i = 0; i < n * w; i++)
        if (t[i] >= 0) start[t[i] + 1]++;
    for (int64_t s = 0; s < n; s++) start[s + 1] += start[s];
    for (int64_t s = 0; s < n; s++) pos[s] = start[s];
    for (int64_t i = 0; i < n * w; i++)
        if (t[i] >= 0) preds[pos[t[i]]++] = i / w;
    int64_t head = 0, tail = 0;
    for (int64_t s = 0; s < n; s++)
        if (acc[s]) {
            live[s] = 1;
            queue[tail++] = s;
        }
    while (head < tail) {
        const int64_t d = queue[head++];
        for (int64_t k = start[d]; k < start[d + 1]; k++)
            if (!live[preds[k]]) {
                live[preds[k]] = 1;
                queue[tail++] = preds[k];
            }
    }
    if (!live[0]) {
        result = PyLong_FromLongLong(0);
        goto done;
    }
    /* prune the edges into dead states, then merge equivalent states (accepting or not to begin with) */
    for (int64_t i = 0; i < n * w; i++) T[i] = (t[i] >= 0 && live[t[i]]) ? t[i] : -1;
    for (int64_t s = 0; s < n; s++) P[s] = acc[s] ? 1 : 0;
    /* refine over one column per byte class (equal columns carry the same information): w / k times less work */
    int64_t cls[256], first[256];
    uint64_t h[256];
    int64_t k = column_classes_i64(T, n, w, cls, first, h);
    if (k < 0) { /* a hash collision: every byte its own class */
        k = w;
        for (int64_t a = 0; a < w; a++) first[a] = a;
    }
    R = (int64_t *)malloc((size_t)(n * k) * sizeof(int64_t));
    if (!R) {
        PyErr_NoMemory();
        goto done;
    }
    for (int64_t s = 0; s < n; s++)
        for (int64_t c = 0; c < k; c++) R[s * k + c] = T[s * w + first[c]];
    const int64_t blocks = refine_hopcroft(R, n, k, P);
    if (blocks < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (int64_t b = 0; b < blocks; b++) rep[b] = -1;
    for (int64_t s = 0; s < n; s++)
        if (P[s] >= 0 && rep[P[s]] < 0) rep[P[s]] = s;
    /* canonical numbering: breadth-first over the blocks from the start's, bytes in increasing order */
    for (int64_t b = 0; b < blocks; b++) pos[b] = -1;
    head = 0;
    tail = 0;
    pos[P[0]] = tail;
    queue[tail++] = P[0];
    while (head < tail) {
        const int64_t *row = T + rep[queue[head++]] * w;
        for (int64_t a = 0; a < w; a++)
            if (row[a] >= 0 && pos[P[row[a]]] < 0) {
                pos[P[row[a]]] = tail;
                queue[tail++] = P[row[a]];
            }
    }
    for (int64_t i = 0; i < tail; i++) {
        const int64_t r = rep[queue[i]];
        for (int64_t a = 0; a < w; a++) {
            const int64_t d = T[r * w + a];
            ot[i * w + a] = d >= 0 ? (int32_t)pos[P[d]] : -1;
        }
        oacc[i] = acc[r] ? 1 : 0;
    }
    result = PyLong_FromLongLong(tail);
done:
    free(start);
    free(preds);
    free(queue);
    free(live);
    free(T);
    free(R);
    free(P);
    free(rep);
    free(pos);
    RELEASE(&tb, &ab, &otb, &oab);
    return result;
}

static PyMethodDef methods[] = {
    {"suffix_ids", suffix_ids, METH_VARARGS, "Token id of every suffix of every token (see the C source)."},
    {"class_groups", class_groups, METH_VARARGS, "Group tokens by their sequence of byte classes."},
    {"copy_rows", copy_rows, METH_VARARGS, "Copy int32 rows into a [B, W] array with the GIL released."},
    {"trie_build", trie_build, METH_VARARGS, "Sort tokens by bytes and write their trie in preorder."},
    {"trie_table", trie_table, METH_VARARGS, "Token table of one DFA state by a walk of the token trie."},
    {"run_suffixes", run_suffixes, METH_VARARGS, "Run a DFA over token suffixes (lexeme ends and survivors)."},
    {"refine_partition", refine_partition, METH_VARARGS, "Moore refinement to the coarsest stable partition."},
    {"column_classes", column_classes, METH_VARARGS, "Classes of equal columns of an int32 table."},
    {"minimize_dfa", minimize_dfa, METH_VARARGS, "Prune, minimise and canonically renumber a byte DFA."},
    {"determinize", determinize, METH_VARARGS, "Subset construction of an NFA with leaf-labelled edges."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "corral._native",
                                    "Compiled hot loops of corral's token index (see corral.tokens.native).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
