/* corral._engine: token masks, checks and feeds of one compiled grammar over a lazily built product automaton.
 *
 * A *product state* is what the Python matcher calls a state (corral.runtime.matcher._State), with integers for
 * objects: a set of lexeme threads (g, O), g a global DFA state (terminal t's state s is g = base[t] + s) and O an
 * interned set of Earley columns (the boundaries where the lexeme started), plus whether the text is complete.
 * Columns are Python objects (corral.runtime.earley.Column) that the engine numbers on first sight; what it needs
 * from them (expected terminals, completeness, the column after scanning a terminal) it asks a Python *resolver*
 * once per column and caches. Product states are interned, and each has a 256-entry successor table filled on
 * demand, so after a warm-up a byte costs one array look-up.
 *
 * The mask of a state is the union over its threads of
 *   * inside(t, s): the tokens that keep the lexeme alive to their last byte (a packed bit set per DFA state,
 *     supplied by the resolver and shared by every grammar with that terminal), and
 *   * for every trie node n where the lexeme may end with bytes left below n (the table's *end nodes*): the tokens
 *     of n's subtree whose bytes after n are viable from the boundary state after t (walked in the trie over the
 *     cached successor tables, dead branches skipped whole),
 * plus the EOS ids when the state is complete. corral.runtime.matcher is the executable specification; the tests
 * compare the two.
 *
 * Threads: an engine has a lock. Python callers release the GIL while the engine computes; a resolver call takes
 * the GIL back for its duration (the resolver must not call the engine).
 *
 *   Engine(resolver, trie arrays..., bm, lengths, size, eos_ids, trans list, acc list, n_lex)
 *   ctable(trie arrays..., trans, acc, state, max_depth, words_out, nodes_out)   a DFA state's table
 */
#include "_buf.h"
#include "pythread.h"

#define UNKNOWN (-2)
#define DEAD (-1)
#define ERR (-3)

/* A trie node in preorder (corral.tokens.native.Trie.packed): its subtree ends before node `skip`; the tokens
 * spelling exactly its prefix are ids[lo:lo + full]; depth is the prefix length (1..255), byte its last byte, kids
 * whether some token goes on below. */
typedef struct {
    int32_t skip, lo;
    uint8_t byte, depth, full, kids;
} Node;

/* ------------------------------------------------------------------------------------------ growable vectors */

typedef struct {
    int32_t *a;
    int64_t n, cap;
} IVec;

static int iv_reserve(IVec *v, int64_t need) {
    if (need <= v->cap) return 0;
    int64_t cap = v->cap ? v->cap : 16;
    while (cap < need) cap *= 2;
    int32_t *a = (int32_t *)realloc(v->a, (size_t)cap * sizeof(int32_t));
    if (!a) return -1;
    v->a = a;
    v->cap = cap;
    return 0;
}

static inline int iv_push(IVec *v, int32_t x) {
    if (v->n == v->cap && iv_reserve(v, v->n + 1) < 0) return -1;
    v->a[v->n++] = x;
    return 0;
}

static void iv_free(IVec *v) {
    free(v->a);
    v->a = NULL;
    v->n = v->cap = 0;
}

/* --------------------------------------------------------------------------- interned int32 sequences -> ids */

typedef struct {
    IVec pool;  /* the sequences, concatenated */
    IVec start; /* sequence i is pool[start[i] : start[i + 1]] */
    int32_t *slots;
    int64_t nslots; /* open addressing, -1: empty */
} Interner;

static uint64_t hash_seq(const int32_t *p, int64_t n) {
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)n;
    for (int64_t i = 0; i < n; i++) {
        h ^= (uint32_t)p[i];
        h *= 1099511628211ULL;
        h ^= h >> 29;
    }
    return h;
}

static int64_t in_count(const Interner *I) { return I->start.n ? I->start.n - 1 : 0; }

static const int32_t *in_get(const Interner *I, int32_t id, int64_t *len) {
    *len = I->start.a[id + 1] - I->start.a[id];
    return I->pool.a + I->start.a[id];
}

static int in_rehash(Interner *I, int64_t nslots) {
    int32_t *slots = (int32_t *)malloc((size_t)nslots * sizeof(int32_t));
    if (!slots) return -1;
    for (int64_t i = 0; i < nslots; i++) slots[i] = -1;
    for (int64_t id = 0; id < in_count(I); id++) {
        int64_t len;
        const int32_t *p = in_get(I, (int32_t)id, &len);
        uint64_t k = hash_seq(p, len) & (uint64_t)(nslots - 1);
        while (slots[k] >= 0) k = (k + 1) & (uint64_t)(nslots - 1);
        slots[k] = (int32_t)id;
    }
    free(I->slots);
    I->slots = slots;
    I->nslots = nslots;
    return 0;
}

/* The id of seq[0:n] (new ids are dense, in order of first sight); *is_new tells which. -1: out of memory. */
static int32_t in_intern(Interner *I, const int32_t *seq, int64_t n, int *is_new) {
    if (I->start.n == 0 && iv_push(&I->start, 0) < 0) return -1;
    if ((in_count(I) + 1) * 2 > I->nslots && in_rehash(I, I->nslots ? I->nslots * 2 : 64) < 0) return -1;
    uint64_t k = hash_seq(seq, n) & (uint64_t)(I->nslots - 1);
    while (I->slots[k] >= 0) {
        int64_t len;
        const int32_t *p = in_get(I, I->slots[k], &len);
        if (len == n && memcmp(p, seq, (size_t)n * sizeof(int32_t)) == 0) {
            *is_new = 0;
            return I->slots[k];
        }
        k = (k + 1) & (uint64_t)(I->nslots - 1);
    }
    if (in_count(I) >= INT32_MAX - 1 || iv_reserve(&I->pool, I->pool.n + n) < 0) return -1;
    memcpy(I->pool.a + I->pool.n, seq, (size_t)n * sizeof(int32_t));
    I->pool.n += n;
    if (iv_push(&I->start, (int32_t)I->pool.n) < 0) return -1;
    int32_t id = (int32_t)(in_count(I) - 1);
    I->slots[k] = id;
    *is_new = 1;
    return id;
}

static void in_free(Interner *I) {
    iv_free(&I->pool);
    iv_free(&I->start);
    free(I->slots);
    I->slots = NULL;
    I->nslots = 0;
}

static int64_t in_nbytes(const Interner *I) {
    return (I->pool.cap + I->start.cap + I->nslots) * (int64_t)sizeof(int32_t);
}

/* ------------------------------------------------------------------------------------------------ the engine */

typedef struct {
    const uint32_t *words; /* packed inside set, or NULL */
    const int64_t *ids;    /* sparse inside set (when words is NULL) */
    const int32_t *nodes;  /* end nodes */
    int64_t n_ids, n_nodes;
    int loaded;
} Table;

typedef struct {
    PyObject_HEAD
    PyObject *keep;     /* list: every array the engine points into, and the tables */
    PyObject *resolver; /* .table(t, s) -> (words or None, ids or None, end nodes) */
    /* the vocabulary's token trie, in preorder (corral.tokens.native.Trie) */
    const Node *N;
    const int64_t *IDS;
    int64_t M, n_ids;
    int32_t *qs; /* per depth (1..255), the walk's state */
    /* token bytes */
    const uint8_t *BM;
    const int64_t *LEN;
    int64_t V, W, size, nwords;
    const int64_t *EOS;
    int64_t neos;
    /* DFAs: terminal t's state s is the global state base[t] + s; terminals n_lex.. are ignored */
    int32_t nterm, nlex, G;
    const int32_t **TR;
    const uint8_t **AC;
    int32_t *BASE, *TERM;
    Table *tabs;
    /* the grammar: rule r is RLHS[r] -> RSYM[RSTART[r]:RSTART[r + 1]]; nonterminal n (symbol nlex + n) has the
     * rules LRULES[LSTART[n]:LSTART[n + 1]] */
    int32_t *RLHS, *RSTART, *RSYM, *LSTART, *LRULES, *predicted;
    uint8_t *NULLABLE;
    int32_t nrules, nnt, start, initial_col, gen;
    /* columns: terms of c are cterms[cstart[c]:cstart[c + 1]] (sorted), with their successors in cafter; scan
     * items (Quads keyed by terminal) scanq[cscan[c]:cscan[c + 1]], waiting items (keyed by nonterminal) in
     * waitq[cwait[c]:cwait[c + 1]] (int32 offsets) */
    IVec cstart, cterms, cafter, ccomplete, cscan, scanq, cwait, waitq;
    Interner kernels, signatures; /* sorted items -> kernel_col / signature_col */
    IVec kernel_col, signature_col;
    IVec items, agenda, sq, wq; /* closure scratch */
    int32_t *seen;
    int64_t nseen;
    Interner sets;   /* sorted column ids */
    Interner states; /* [complete, g0, set0, g1, set1, ...], threads sorted by g */
    IVec sthreads;   /* per state: thread count */
    IVec scomplete;  /* per state: complete flag */
    int32_t *delta;  /* [states x 256]: successor per byte, UNKNOWN or DEAD */
    int64_t delta_cap;
    Interner bkeys; /* [t, set] -> index into bval: the boundary state after t from those columns */
    IVec bval;
    /* scratch */
    IVec pairs, here, key, tmp, qk;
    PyThread_type_lock lock;
    PyThreadState *ts; /* non-NULL while the engine runs with the GIL released */
    int64_t computed;  /* successor-table entries computed so far */
    int broken;        /* an error stopped a computation half way: the engine refuses further calls */
} Engine;

/* Run `code` holding the GIL (the engine may be running without it). */
#define WITH_GIL(E, code)                      \
    do {                                       \
        if ((E)->ts) {                         \
            PyEval_RestoreThread((E)->ts);     \
            (E)->ts = NULL;                    \
            code;                              \
            (E)->ts = PyEval_SaveThread();     \
        } else {                               \
            code;                              \
        }                                      \
    } while (0)

/* Take the engine's lock. With release_gil, or when another thread holds the lock, the GIL is released first
 * (a thread waiting for the engine never holds the GIL, so a resolver call can always take it). */
static void enter(Engine *E, int release_gil) {
    if (!release_gil && PyThread_acquire_lock(E->lock, NOWAIT_LOCK)) {
        E->ts = NULL;
        return;
    }
    PyThreadState *ts = PyEval_SaveThread();
    PyThread_acquire_lock(E->lock, WAIT_LOCK);
    E->ts = ts;
}

static void leave(Engine *E) {
    PyThreadState *ts = E->ts;
    E->ts = NULL;
    PyThread_release_lock(E->lock);
    if (ts) PyEval_RestoreThread(ts);
}

static int oom(Engine *E) {
    WITH_GIL(E, PyErr_NoMemory());
    return ERR;
}

/* ------------------------------------------------------------------------------- the Earley recognizer */

/* Items are triples (rule, dot, origin column). A column is built from its kernel (the items that scanned a
 * terminal) by prediction and completion, the nullable rule of Aycock and Horspool moving dots past nullable
 * nonterminals at prediction time; it is interned by kernel and by signature (the items that can still move, its
 * own predictions written with origin -1, and the complete flag), as corral.runtime.earley.Column is. */

typedef struct {
    int32_t r, d, o;
} Item;

typedef struct {
    int32_t k, r, d, o; /* k: the terminal or nonterminal after the dot */
} Quad;

static int cmp_item(const void *a, const void *b) {
    const Item *x = a, *y = b;
    if (x->r != y->r) return x->r < y->r ? -1 : 1;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return (x->o > y->o) - (x->o < y->o);
}

static int cmp_quad(const void *a, const void *b) {
    const Quad *x = a, *y = b;
    if (x->k != y->k) return x->k < y->k ? -1 : 1;
    return cmp_item(&x->r, &y->r);
}

#define PUSH_REC(vec, rec)                                                                    \
    (iv_reserve(&(vec), (vec).n + (int64_t)(sizeof(rec) / 4)) < 0                              \
         ? -1                                                                                  \
         : (memcpy((vec).a + (vec).n, &(rec), sizeof(rec)), (vec).n += (int64_t)(sizeof(rec) / 4), 0))

/* Add an item to the closure under construction unless it is there already. */
static int add_item(Engine *E, int32_t r, int32_t d, int32_t o) {
    Item it = {r, d, o};
    const int64_t n = E->items.n / 3;
    if ((n + 1) * 2 > E->nseen) {
        int64_t ns = E->nseen ? E->nseen * 2 : 256;
        int32_t *slots = (int32_t *)malloc((size_t)ns * sizeof(int32_t));
        if (!slots) return -1;
        for (int64_t i = 0; i < ns; i++) slots[i] = -1;
        for (int64_t i = 0; i < n; i++) {
            uint64_t k = hash_seq(E->items.a + 3 * i, 3) & (uint64_t)(ns - 1);
            while (slots[k] >= 0) k = (k + 1) & (uint64_t)(ns - 1);
            slots[k] = (int32_t)i;
        }
        free(E->seen);
        E->seen = slots;
        E->nseen = ns;
    }
    uint64_t k = hash_seq(&it.r, 3) & (uint64_t)(E->nseen - 1);
    while (E->seen[k] >= 0) {
        if (memcmp(E->items.a + 3 * (int64_t)E->seen[k], &it, sizeof it) == 0) return 0;
        k = (k + 1) & (uint64_t)(E->nseen - 1);
    }
    E->seen[k] = (int32_t)n;
    return PUSH_REC(E->items, it) < 0 || iv_push(&E->agenda, (int32_t)n) < 0 ? -1 : 0;
}

/* Range [lo, hi) of the quads of column c (scan or wait pool) whose key is k. */
static void quad_range(const IVec *pool, const IVec *starts, int32_t c, int32_t k, int64_t *lo, int64_t *hi) {
    const Quad *Q = (const Quad *)pool->a;
    int64_t a = starts->a[c] / 4, b = starts->a[c + 1] / 4;
    while (a < b) {
        int64_t m = (a + b) / 2;
        if (Q[m].k < k) a = m + 1; else b = m;
    }
    *lo = a;
    b = starts->a[c + 1] / 4;
    while (a < b) {
        int64_t m = (a + b) / 2;
        if (Q[m].k <= k) a = m + 1; else b = m;
    }
    *hi = a;
}

/* The closure of the kernel in E->items (origin -1: the new column itself) as column `cid`: scan and wait quads
 * into E->sq / E->wq; returns the complete flag, -1 on memory failure. */
static int closure(Engine *E, int32_t cid, int initial) {
    int complete = 0;
    const int64_t n0 = E->items.n / 3;
    Item *K = (Item *)malloc((size_t)(n0 ? n0 : 1) * sizeof(Item));
    if (!K) return -1;
    memcpy(K, E->items.a, (size_t)n0 * sizeof(Item));
    E->items.n = E->agenda.n = E->sq.n = E->wq.n = 0;
    for (int64_t i = 0; i < E->nseen; i++) E->seen[i] = -1;
    E->gen++;
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < n0; i++) rc = add_item(E, K[i].r, K[i].d, K[i].o < 0 ? cid : K[i].o);
    free(K);
    while (rc == 0 && E->agenda.n) {
        const Item it = ((const Item *)E->items.a)[E->agenda.a[--E->agenda.n]];
        const int32_t len = E->RSTART[it.r + 1] - E->RSTART[it.r], lhs = E->RLHS[it.r];
        if (it.d == len) {
            if (it.o == cid) { /* an empty derivation: its parents moved past it at prediction */
                complete |= initial && lhs == E->start;
                continue;
            }
            complete |= lhs == E->start && it.o == E->initial_col;
            int64_t lo, hi;
            quad_range(&E->waitq, &E->cwait, it.o, lhs, &lo, &hi);
            for (int64_t j = lo; rc == 0 && j < hi; j++) {
                const Quad q = ((const Quad *)E->waitq.a)[j];
                rc = add_item(E, q.r, q.d + 1, q.o);
            }
            continue;
        }
        const int32_t sym = E->RSYM[E->RSTART[it.r] + it.d];
        Quad q = {sym, it.r, it.d, it.o};
        if (sym < E->nlex) {
            rc = PUSH_REC(E->sq, q);
            continue;
        }
        rc = PUSH_REC(E->wq, q);
        const int32_t nt = sym - E->nlex;
        if (rc == 0 && E->predicted[nt] != E->gen) {
            E->predicted[nt] = E->gen;
            for (int32_t j = E->LSTART[nt]; rc == 0 && j < E->LSTART[nt + 1]; j++) rc = add_item(E, E->LRULES[j], 0, cid);
        }
        if (rc == 0 && E->NULLABLE[nt]) rc = add_item(E, it.r, it.d + 1, it.o);
    }
    complete |= initial && E->NULLABLE[E->start - E->nlex];
    return rc < 0 ? -1 : complete;
}

/* The column of the kernel in E->items (origin -1: itself), interned. ERR on memory failure. */
static int32_t build_column(Engine *E, int initial) {
    const int64_t nk = E->items.n / 3;
    qsort(E->items.a, (size_t)nk, sizeof(Item), cmp_item);
    int is_new;
    const int32_t kid = in_intern(&E->kernels, E->items.a, E->items.n, &is_new);
    if (kid < 0) return oom(E);
    if (!is_new) return E->kernel_col.a[kid];
    if (iv_push(&E->kernel_col, ERR) < 0) return oom(E);
    const int32_t cid = (int32_t)E->ccomplete.n;
    const int complete = closure(E, cid, initial);
    if (complete < 0) return oom(E);
    Quad *S = (Quad *)E->sq.a, *Wq = (Quad *)E->wq.a;
    const int64_t ns = E->sq.n / 4, nw = E->wq.n / 4;
    qsort(S, (size_t)ns, sizeof(Quad), cmp_quad);
    qsort(Wq, (size_t)nw, sizeof(Quad), cmp_quad);
    /* the signature: complete, then the moving items sorted, own origins as -1 */
    E->key.n = 0;
    if (iv_reserve(&E->key, 1 + 3 * (ns + nw)) < 0) return oom(E);
    Item *sig = (Item *)(E->key.a + 1);
    for (int64_t i = 0; i < ns + nw; i++) {
        const Quad q = i < ns ? S[i] : Wq[i - ns];
        sig[i] = (Item){q.r, q.d, q.o == cid ? -1 : q.o};
    }
    qsort(sig, (size_t)(ns + nw), sizeof(Item), cmp_item);
    E->key.a[0] = complete;
    E->key.n = 1 + 3 * (ns + nw);
    const int32_t sid = in_intern(&E->signatures, E->key.a, E->key.n, &is_new);
    if (sid < 0) return oom(E);
    if (!is_new) return E->kernel_col.a[kid] = E->signature_col.a[sid];
    if (iv_push(&E->signature_col, cid) < 0 || iv_reserve(&E->scanq, E->scanq.n + 4 * ns) < 0 ||
        iv_reserve(&E->waitq, E->waitq.n + 4 * nw) < 0)
        return oom(E);
    memcpy(E->scanq.a + E->scanq.n, S, (size_t)ns * sizeof(Quad));
    E->scanq.n += 4 * ns;
    memcpy(E->waitq.a + E->waitq.n, Wq, (size_t)nw * sizeof(Quad));
    E->waitq.n += 4 * nw;
    for (int64_t i = 0; i < ns; i++)
        if ((i == 0 || S[i].k != S[i - 1].k) && (iv_push(&E->cterms, S[i].k) < 0 || iv_push(&E->cafter, UNKNOWN) < 0))
            return oom(E);
    if (iv_push(&E->cstart, (int32_t)E->cterms.n) < 0 || iv_push(&E->cscan, (int32_t)E->scanq.n) < 0 ||
        iv_push(&E->cwait, (int32_t)E->waitq.n) < 0 || iv_push(&E->ccomplete, complete) < 0)
        return oom(E);
    return E->kernel_col.a[kid] = cid;
}

/* The column after scanning terminal t in column c (t must be one of c's terms). ERR on failure. */
static int32_t col_after(Engine *E, int32_t c, int32_t t) {
    int64_t lo = E->cstart.a[c], hi = E->cstart.a[c + 1];
    while (lo < hi) {
        int64_t mid = (lo + hi) / 2;
        if (E->cterms.a[mid] < t) lo = mid + 1; else hi = mid;
    }
    if (lo >= E->cstart.a[c + 1] || E->cterms.a[lo] != t) {
        WITH_GIL(E, PyErr_Format(PyExc_RuntimeError, "engine: terminal %d is not expected in column %d", t, c));
        return ERR;
    }
    if (E->cafter.a[lo] != UNKNOWN) return E->cafter.a[lo];
    int64_t a, b;
    quad_range(&E->scanq, &E->cscan, c, t, &a, &b);
    E->items.n = 0;
    for (int64_t j = a; j < b; j++) {
        const Quad q = ((const Quad *)E->scanq.a)[j];
        Item it = {q.r, q.d + 1, q.o};
        if (PUSH_REC(E->items, it) < 0) return oom(E);
    }
    const int32_t id = build_column(E, 0);
    if (id >= 0) E->cafter.a[lo] = id;
    return id;
}

/* ------------------------------------------------------------------------------------------------ states */

typedef struct {
    int32_t g, c;
} Pair;

static int cmp_pair(const void *a, const void *b) {
    const Pair *x = (const Pair *)a, *y = (const Pair *)b;
    if (x->g != y->g) return x->g < y->g ? -1 : 1;
    return (x->c > y->c) - (x->c < y->c);
}

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

static int64_t sort_unique(int32_t *a, int64_t n) {
    if (n < 2) return n;
    qsort(a, (size_t)n, sizeof(int32_t), cmp_i32);
    int64_t m = 1;
    for (int64_t i = 1; i < n; i++)
        if (a[i] != a[m - 1]) a[m++] = a[i];
    return m;
}

/* Add the threads a lexeme boundary starts in the columns E->here[0:n] (every expected and ignored terminal, in
 * state 0) to E->pairs; returns whether one of the columns is complete. */
static int start_threads(Engine *E, int64_t n) {
    int complete = 0;
    for (int64_t i = 0; i < n; i++) {
        const int32_t h = E->here.a[i];
        complete |= E->ccomplete.a[h];
        for (int64_t k = E->cstart.a[h]; k < E->cstart.a[h + 1]; k++) {
            Pair p = {E->BASE[E->cterms.a[k]], h};
            if (iv_reserve(&E->pairs, E->pairs.n + 2) < 0) return ERR;
            memcpy(E->pairs.a + E->pairs.n, &p, sizeof p);
            E->pairs.n += 2;
        }
        for (int32_t t = E->nlex; t < E->nterm; t++) {
            Pair p = {E->BASE[t], h};
            if (iv_reserve(&E->pairs, E->pairs.n + 2) < 0) return ERR;
            memcpy(E->pairs.a + E->pairs.n, &p, sizeof p);
            E->pairs.n += 2;
        }
    }
    return complete;
}

/* The state with the threads of E->pairs (grouped by DFA state) and the complete flag: DEAD if it has neither. */
static int32_t make_state(Engine *E, int complete) {
    Pair *P = (Pair *)E->pairs.a;
    const int64_t np = E->pairs.n / 2;
    if (np > 1) qsort(P, (size_t)np, sizeof(Pair), cmp_pair);
    E->key.n = 0;
    if (iv_push(&E->key, complete) < 0) return oom(E);
    int32_t nthreads = 0;
    for (int64_t i = 0; i < np;) {
        int64_t j = i;
        E->tmp.n = 0;
        while (j < np && P[j].g == P[i].g) {
            if ((E->tmp.n == 0 || E->tmp.a[E->tmp.n - 1] != P[j].c) && iv_push(&E->tmp, P[j].c) < 0)
                return oom(E);
            j++;
        }
        int is_new;
        int32_t set = in_intern(&E->sets, E->tmp.a, E->tmp.n, &is_new);
        if (set < 0 || iv_push(&E->key, P[i].g) < 0 || iv_push(&E->key, set) < 0) return oom(E);
        nthreads++;
        i = j;
    }
    if (!nthreads && !complete) return DEAD;
    int is_new;
    int32_t q = in_intern(&E->states, E->key.a, E->key.n, &is_new);
    if (q < 0) return oom(E);
    if (is_new) {
        if (q >= E->delta_cap) {
            int64_t cap = E->delta_cap ? E->delta_cap * 2 : 256;
            int32_t *d = (int32_t *)realloc(E->delta, (size_t)cap * 256 * sizeof(int32_t));
            if (!d) return oom(E);
            E->delta = d;
            E->delta_cap = cap;
        }
        for (int b = 0; b < 256; b++) E->delta[(int64_t)q * 256 + b] = UNKNOWN;
        if (iv_push(&E->sthreads, nthreads) < 0 || iv_push(&E->scomplete, complete) < 0) return oom(E);
    }
    return q;
}

/* Copy set `set` into E->tmp. */
static int load_set(Engine *E, int32_t set) {
    int64_t n;
    const int32_t *p = in_get(&E->sets, set, &n);
    E->tmp.n = 0;
    if (iv_reserve(&E->tmp, n) < 0) return -1;
    memcpy(E->tmp.a, p, (size_t)n * sizeof(int32_t));
    E->tmp.n = n;
    return 0;
}

/* Add to E->here the columns where the parser is after a lexeme of t that started in the columns of E->tmp. */
static int lexeme_end(Engine *E, int32_t t) {
    for (int64_t i = 0; i < E->tmp.n; i++) {
        int32_t c = E->tmp.a[i];
        if (t < E->nlex && (c = col_after(E, c, t)) < 0) return ERR;
        if (iv_push(&E->here, c) < 0) return oom(E);
    }
    return 0;
}

/* The state after byte b from state q (cached). */
static int32_t step(Engine *E, int32_t q, int b) {
    int32_t r = E->delta[(int64_t)q * 256 + b];
    if (r != UNKNOWN) return r;
    E->computed++;
    int64_t klen;
    const int32_t *k = in_get(&E->states, q, &klen);
    E->qk.n = 0;
    if (iv_reserve(&E->qk, klen) < 0) return oom(E);
    memcpy(E->qk.a, k, (size_t)klen * sizeof(int32_t));
    E->pairs.n = E->here.n = 0;
    for (int64_t i = 1; i + 1 < klen; i += 2) {
        const int32_t g = E->qk.a[i], t = E->TERM[g], s2 = E->TR[t][(int64_t)(g - E->BASE[t]) * 256 + b];
        if (s2 < 0) continue;
        if (load_set(E, E->qk.a[i + 1]) < 0) return oom(E);
        for (int64_t j = 0; j < E->tmp.n; j++) {
            Pair p = {E->BASE[t] + s2, E->tmp.a[j]};
            if (iv_reserve(&E->pairs, E->pairs.n + 2) < 0) return oom(E);
            memcpy(E->pairs.a + E->pairs.n, &p, sizeof p);
            E->pairs.n += 2;
        }
        if (E->AC[t][s2] && lexeme_end(E, t) < 0) return ERR;
    }
    E->here.n = sort_unique(E->here.a, E->here.n);
    int complete = start_threads(E, E->here.n);
    if (complete < 0) return oom(E);
    r = make_state(E, complete);
    if (r != ERR) E->delta[(int64_t)q * 256 + b] = r;
    return r;
}

/* The boundary state right after a lexeme of t that started in the columns of `set` (cached). */
static int32_t boundary(Engine *E, int32_t t, int32_t set) {
    int32_t kk[2] = {t, set};
    int is_new;
    int32_t id = in_intern(&E->bkeys, kk, 2, &is_new);
    if (id < 0) return oom(E);
    if (!is_new) return E->bval.a[id];
    if (iv_push(&E->bval, ERR) < 0) return oom(E);
    E->pairs.n = E->here.n = 0;
    if (load_set(E, set) < 0) return oom(E);
    if (lexeme_end(E, t) < 0) return ERR;
    E->here.n = sort_unique(E->here.a, E->here.n);
    int complete = start_threads(E, E->here.n);
    if (complete < 0) return oom(E);
    int32_t r = make_state(E, complete);
    E->bval.a[id] = r;
    return r;
}

/* ------------------------------------------------------------------------------------------------ tables */

/* Ask the resolver for the table of global DFA state g (GIL held); the arrays stay alive in E->keep. */
static int table_gil(Engine *E, int32_t g) {
    const int32_t t = E->TERM[g];
    PyObject *r = PyObject_CallMethod(E->resolver, "table", "ii", (int)t, (int)(g - E->BASE[t]));
    PyObject *words, *ids, *nodes;
    if (!r) return ERR;
    Buf w = {0}, i = {0}, n = {0};
    int ok = PyArg_ParseTuple(r, "OOO", &words, &ids, &nodes) && PyList_Append(E->keep, r) == 0 &&
             (words == Py_None || get_buf(words, &w, 0, "iI", 4, "words") == 0) &&
             (ids == Py_None || get_buf(ids, &i, 0, "qlL", 8, "ids") == 0) &&
             get_buf(nodes, &n, 0, "iI", 4, "nodes") == 0;
    if (ok && ((words != Py_None && w.view.len / 4 != E->nwords) || (words == Py_None) == (ids == Py_None))) {
        PyErr_SetString(PyExc_ValueError, "table: words [ceil(size / 32)] or ids, not both");
        ok = 0;
    }
    const int64_t *I = ok && ids != Py_None ? (const int64_t *)i.view.buf : NULL;
    const int32_t *N = ok ? (const int32_t *)n.view.buf : NULL;
    for (int64_t k = 0; ok && I && k < i.view.len / 8; k++) ok = I[k] >= 0 && I[k] < E->size;
    for (int64_t k = 0; ok && k < n.view.len / 4; k++) ok = N[k] >= 0 && N[k] < E->M;
    if (ok) {
        Table *T = &E->tabs[g];
        T->words = words == Py_None ? NULL : (const uint32_t *)w.view.buf;
        T->ids = I;
        T->n_ids = I ? i.view.len / 8 : 0;
        T->nodes = N;
        T->n_nodes = n.view.len / 4;
        T->loaded = 1;
    } else if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "table: an id or node out of range");
    }
    RELEASE(&w, &i, &n);
    Py_DECREF(r);
    return ok ? 0 : ERR;
}

static int load_table(Engine *E, int32_t g) {
    if (E->tabs[g].loaded) return 0;
    int rc = ERR;
    WITH_GIL(E, rc = table_gil(E, g));
    return rc;
}

/* --------------------------------------------------------------------------------------------- the masks */

static inline void set_bit(uint32_t *out, int64_t id) { out[id >> 5] |= 1u << (id & 31); }

/* Set the tokens of node n's subtree whose bytes below n are viable from state b. */
static int walk(Engine *E, int32_t n, int32_t b, uint32_t *out) {
    const Node *N = E->N;
    const int32_t end = N[n].skip;
    E->qs[N[n].depth] = b;
    for (int32_t i = n + 1; i < end;) {
        const Node nd = N[i];
        const int32_t q = step(E, E->qs[nd.depth - 1], nd.byte);
        if (q == ERR) return ERR;
        if (q < 0) {
            i = nd.skip;
            continue;
        }
        for (int32_t k = nd.lo; k < nd.lo + nd.full; k++) set_bit(out, E->IDS[k]);
        if (!nd.kids || !E->sthreads.a[q]) {
            i = nd.skip;
            continue;
        }
        E->qs[nd.depth] = q;
        i++;
    }
    return 0;
}

static int mask_into(Engine *E, int32_t q, uint32_t *out) {
    memset(out, 0, (size_t)E->nwords * sizeof(uint32_t));
    if (q < 0) return 0;
    int64_t klen;
    const int32_t *k = in_get(&E->states, q, &klen);
    int32_t *key = (int32_t *)malloc((size_t)klen * sizeof(int32_t));
    if (!key) return oom(E);
    memcpy(key, k, (size_t)klen * sizeof(int32_t));
    int rc = 0;
    for (int64_t i = 1; rc == 0 && i + 1 < klen; i += 2) {
        const int32_t g = key[i];
        if ((rc = load_table(E, g)) < 0) break;
        const Table *T = &E->tabs[g];
        if (T->words)
            for (int64_t w = 0; w < E->nwords; w++) out[w] |= T->words[w];
        else
            for (int64_t j = 0; j < T->n_ids; j++) set_bit(out, T->ids[j]);
        if (!T->n_nodes) continue;
        const int32_t b = boundary(E, E->TERM[g], key[i + 1]);
        if (b == ERR) {
            rc = ERR;
            break;
        }
        if (b < 0 || !E->sthreads.a[b]) continue;
        for (int64_t j = 0; rc == 0 && j < T->n_nodes; j++) rc = walk(E, T->nodes[j], b, out);
    }
    free(key);
    if (rc == 0 && E->scomplete.a[q])
        for (int64_t j = 0; j < E->neos; j++) set_bit(out, E->EOS[j]);
    return rc;
}

static int32_t feed(Engine *E, int32_t q, int64_t token) {
    if (q < 0 || token < 0 || token >= E->V || E->LEN[token] <= 0) return DEAD;
    const uint8_t *p = E->BM + token * E->W;
    for (int64_t i = 0; i < E->LEN[token] && q >= 0; i++) q = step(E, q, p[i]);
    return q;
}

/* ------------------------------------------------------------------------------------------ Python methods */

static int check_state(Engine *E, long long q) {
    if (E->broken || !E->keep) {
        PyErr_SetString(PyExc_RuntimeError, "engine: unusable after an earlier error (build a new one)");
        return -1;
    }
    if (q < -1 || q >= in_count(&E->states)) {
        PyErr_Format(PyExc_ValueError, "engine: no state %lld", q);
        return -1;
    }
    return 0;
}

static PyObject *Engine_initial(Engine *E, PyObject *noargs) {
    if (check_state(E, -1) < 0) return NULL;
    enter(E, 0);
    E->pairs.n = 0;
    E->here.n = 0;
    int32_t q = iv_push(&E->here, E->initial_col) < 0 ? oom(E) : 0;
    if (q == 0) {
        int complete = start_threads(E, 1);
        q = complete < 0 ? oom(E) : make_state(E, complete);
    }
    leave(E);
    if (q == ERR) E->broken = 1;
    if (q == ERR) return NULL;
    return PyLong_FromLong(q);
}

static PyObject *Engine_next_bytes(Engine *E, PyObject *args) {
    long long q;
    if (!PyArg_ParseTuple(args, "L", &q) || check_state(E, q) < 0) return NULL;
    uint8_t ok[256] = {0};
    int32_t r = 0;
    enter(E, 0);
    for (int b = 0; q >= 0 && b < 256 && r != ERR; b++) ok[b] = (r = step(E, (int32_t)q, b)) >= 0;
    leave(E);
    if (r == ERR) E->broken = 1;
    if (r == ERR) return NULL;
    return PyBytes_FromStringAndSize((const char *)ok, 256);
}

static PyObject *Engine_trim(Engine *E, PyObject *noargs) {
    if (check_state(E, -1) < 0) return NULL;
    enter(E, 1);
    const int64_t n = in_count(&E->states);
    for (int64_t i = 0; i < n * 256; i++) E->delta[i] = UNKNOWN;
    int32_t *d = n ? (int32_t *)realloc(E->delta, (size_t)n * 256 * sizeof(int32_t)) : NULL;
    if (d || !n) {
        if (!n) free(E->delta);
        E->delta = d;
        E->delta_cap = n;
    }
    leave(E);
    Py_RETURN_NONE;
}

static PyObject *Engine_mask(Engine *E, PyObject *args) {
    long long q;
    PyObject *o;
    if (!PyArg_ParseTuple(args, "LO", &q, &o) || check_state(E, q) < 0) return NULL;
    Buf out = {0};
    if (get_buf(o, &out, 1, "iIlL", 4, "out") < 0) {
        release(&out);
        return NULL;
    }
    if (out.view.len / 4 != E->nwords) {
        release(&out);
        return PyErr_Format(PyExc_ValueError, "mask: out must hold %lld int32 words", (long long)E->nwords);
    }
    enter(E, 1);
    int rc = mask_into(E, (int32_t)q, (uint32_t *)out.view.buf);
    leave(E);
    release(&out);
    if (rc < 0) E->broken = 1;
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Engine_fill(Engine *E, PyObject *args) {
    PyObject *qo, *o;
    if (!PyArg_ParseTuple(args, "OO", &qo, &o)) return NULL;
    Buf qs = {0}, out = {0};
    PyObject *result = NULL;
    if (get_buf(qo, &qs, 0, "iI", 4, "states") < 0 || get_buf(o, &out, 1, "iIlL", 4, "out") < 0) goto done;
    const int64_t B = qs.view.len / 4;
    if (out.view.len / 4 != B * E->nwords) {
        PyErr_Format(PyExc_ValueError, "fill: out must be [%lld, %lld] int32", (long long)B, (long long)E->nwords);
        goto done;
    }
    for (int64_t i = 0; i < B; i++)
        if (check_state(E, ((const int32_t *)qs.view.buf)[i]) < 0) goto done;
    enter(E, 1);
    int rc = 0;
    for (int64_t i = 0; rc == 0 && i < B; i++)
        rc = mask_into(E, ((const int32_t *)qs.view.buf)[i], (uint32_t *)out.view.buf + i * E->nwords);
    leave(E);
    if (rc == 0) result = Py_NewRef(Py_None);
    else E->broken = 1;
done:
    RELEASE(&qs, &out);
    return result;
}

static PyObject *Engine_feed(Engine *E, PyObject *args) {
    long long q, token;
    if (!PyArg_ParseTuple(args, "LL", &q, &token) || check_state(E, q) < 0) return NULL;
    enter(E, 0);
    int32_t r = feed(E, (int32_t)q, token);
    leave(E);
    if (r == ERR) E->broken = 1;
    if (r == ERR) return NULL;
    return PyLong_FromLong(r);
}

static PyObject *Engine_feed_bytes(Engine *E, PyObject *args) {
    long long q;
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "Ly*", &q, &data)) return NULL;
    if (check_state(E, q) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    enter(E, 0);
    int32_t r = (int32_t)q;
    for (Py_ssize_t i = 0; i < data.len && r >= 0; i++) r = step(E, r, ((const uint8_t *)data.buf)[i]);
    leave(E);
    PyBuffer_Release(&data);
    if (r == ERR) E->broken = 1;
    if (r == ERR) return NULL;
    return PyLong_FromLong(r);
}

static PyObject *Engine_info(Engine *E, PyObject *args) {
    long long q;
    if (!PyArg_ParseTuple(args, "L", &q) || check_state(E, q) < 0) return NULL;
    if (q < 0) return Py_BuildValue("(ii)", 0, 0);
    return Py_BuildValue("(ii)", (int)E->sthreads.a[q], (int)E->scomplete.a[q]);
}

static PyObject *Engine_stats(Engine *E, PyObject *noargs) {
    int64_t bytes = E->delta_cap * 256 * (int64_t)sizeof(int32_t) + in_nbytes(&E->sets) + in_nbytes(&E->states) +
                    in_nbytes(&E->bkeys) +
                    (E->cstart.cap + E->cterms.cap + E->cafter.cap + E->ccomplete.cap + E->sthreads.cap +
                     E->scomplete.cap + E->bval.cap) * (int64_t)sizeof(int32_t) +
                    (int64_t)E->G * (int64_t)sizeof(Table);
    return Py_BuildValue("{sLsLsLsLsL}", "states", (long long)in_count(&E->states), "sets",
                         (long long)in_count(&E->sets), "columns", (long long)E->ccomplete.n, "transitions",
                         (long long)E->computed, "nbytes", (long long)bytes);
}

/* Copy an int32 / uint8 buffer into a new array of n items (n < 0: any length, returned in *n). */
static void *copy_array(PyObject *obj, const char *fmt, int size, int64_t *n, const char *name) {
    Buf b = {0};
    if (get_buf(obj, &b, 0, fmt, size, name) < 0) {
        release(&b);
        return NULL;
    }
    const int64_t len = b.view.len / size;
    void *out = NULL;
    if (*n >= 0 && len != *n)
        PyErr_Format(PyExc_ValueError, "engine: %s must have %lld items", name, (long long)*n);
    else if (!(out = malloc((size_t)(len ? len : 1) * (size_t)size)))
        PyErr_NoMemory();
    else
        memcpy(out, b.view.buf, (size_t)b.view.len);
    *n = len;
    release(&b);
    return out;
}

/* The grammar (rules_lhs, rules_start, rules_syms, lhs_start, lhs_rules, nullable, start): see Engine. */
static int init_grammar(Engine *E, PyObject *g) {
    PyObject *o[6];
    int start;
    if (!PyArg_ParseTuple(g, "OOOOOOi", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &start)) return -1;
    int64_t nr = -1, nrs, ns = -1, nn, nl = -1, nnull;
    if (!(E->RLHS = copy_array(o[0], "iI", 4, &nr, "rules_lhs"))) return -1;
    nrs = nr + 1;
    if (!(E->RSTART = copy_array(o[1], "iI", 4, &nrs, "rules_start"))) return -1;
    if (!(E->RSYM = copy_array(o[2], "iI", 4, &ns, "rules_syms"))) return -1;
    if (!(E->LSTART = copy_array(o[3], "iI", 4, &nl, "lhs_start"))) return -1;
    nn = nl - 1;
    nnull = nn;
    int64_t nlr = -1;
    if (nn < 0 || !(E->LRULES = copy_array(o[4], "iI", 4, &nlr, "lhs_rules")) ||
        !(E->NULLABLE = copy_array(o[5], "BbB?", 1, &nnull, "nullable")))
        return nn < 0 ? (PyErr_SetString(PyExc_ValueError, "engine: empty lhs_start"), -1) : -1;
    int ok = E->RSTART[0] == 0 && E->RSTART[nr] == ns && E->LSTART[0] == 0 && E->LSTART[nn] == nlr &&
             start >= E->nlex && start < E->nlex + nn;
    for (int64_t r = 0; ok && r < nr; r++)
        ok = E->RSTART[r] <= E->RSTART[r + 1] && E->RLHS[r] >= E->nlex && E->RLHS[r] < E->nlex + nn;
    for (int64_t i = 0; ok && i < ns; i++) ok = E->RSYM[i] >= 0 && E->RSYM[i] < E->nlex + nn;
    for (int64_t i = 0; ok && i < nn; i++) ok = E->LSTART[i] <= E->LSTART[i + 1];
    for (int64_t i = 0; ok && i < nlr; i++) ok = E->LRULES[i] >= 0 && E->LRULES[i] < nr;
    if (!ok) return PyErr_SetString(PyExc_ValueError, "engine: malformed grammar arrays"), -1;
    E->nrules = (int32_t)nr;
    E->nnt = (int32_t)nn;
    E->start = start;
    if (!(E->predicted = (int32_t *)calloc((size_t)nn + 1, sizeof(int32_t)))) return PyErr_NoMemory(), -1;
    E->initial_col = -1;
    for (int32_t j = E->LSTART[start - E->nlex]; j < E->LSTART[start - E->nlex + 1]; j++) {
        Item it = {E->LRULES[j], 0, -1};
        if (PUSH_REC(E->items, it) < 0) return PyErr_NoMemory(), -1;
    }
    if (iv_push(&E->cscan, 0) < 0 || iv_push(&E->cwait, 0) < 0) return PyErr_NoMemory(), -1;
    if ((E->initial_col = build_column(E, 1)) < 0) return -1;
    return 0;
}

/* Engine(resolver, nodes, ids, bm, lengths, size, eos, trans, acc, n_lex, grammar, check_trie): check_trie=False
 * skips the O(trie) validation of a trie already checked with this size (the caller keeps the arrays unchanged). */
static int Engine_init(Engine *E, PyObject *args, PyObject *kw) {
    PyObject *o[4], *trans, *acc, *resolver, *eos, *grammar;
    long long size;
    int nlex, check_trie;
    if (!PyArg_ParseTuple(args, "OOOOOLOOOiOp", &resolver, &o[0], &o[1], &o[2], &o[3], &size, &eos, &trans, &acc,
                          &nlex, &grammar, &check_trie))
        return -1;
    if (E->keep) return PyErr_SetString(PyExc_RuntimeError, "engine: already initialised"), -1;
    E->keep = PyList_New(0);
    E->lock = PyThread_allocate_lock();
    if (!E->keep || !E->lock) return PyErr_NoMemory(), -1;
    Py_INCREF(resolver);
    E->resolver = resolver;
    const char *fmts[4] = {"BbB", "qlL", "BbB?", "qlL"};
    const int sizes[4] = {1, 8, 1, 8};
    const void *ptr[4];
    int64_t len[4];
    for (int i = 0; i < 4; i++) {
        Buf b = {0};
        if (get_buf(o[i], &b, 0, fmts[i], sizes[i], "engine array") < 0 || PyList_Append(E->keep, o[i]) < 0) {
            release(&b);
            return -1;
        }
        ptr[i] = b.view.buf;
        len[i] = b.view.len / sizes[i];
        if (i == 2) {
            if (b.view.ndim != 2) {
                release(&b);
                PyErr_SetString(PyExc_ValueError, "engine: bm must be [V, W]");
                return -1;
            }
            E->V = b.view.shape[0];
            E->W = b.view.shape[1];
        }
        release(&b);
    }
    E->N = ptr[0];
    E->IDS = ptr[1];
    E->BM = ptr[2];
    E->LEN = ptr[3];
    E->M = len[0] / (int64_t)sizeof(Node);
    E->n_ids = len[1];
    if (len[0] % (int64_t)sizeof(Node) || len[3] != E->V || size < E->V || size > INT32_MAX || E->M > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "engine: nodes [M] (12 bytes each), lengths [V], size >= V");
        return -1;
    }
    const Node *N = E->N;
    for (int64_t i = 0; check_trie && i < E->M; i++)
        if (N[i].depth < 1 || N[i].depth > (i ? N[i - 1].depth + 1 : 1) || N[i].skip <= i || N[i].skip > E->M ||
            N[i].lo < 0 || N[i].lo + (int64_t)N[i].full > E->n_ids) {
            PyErr_SetString(PyExc_ValueError, "engine: malformed trie");
            return -1;
        }
    for (int64_t i = 0; check_trie && i < E->n_ids; i++)
        if (E->IDS[i] < 0 || E->IDS[i] >= size) {
            PyErr_SetString(PyExc_ValueError, "engine: trie id out of range");
            return -1;
        }
    const long long maxd = 255; /* depths are uint8 */
    E->size = size;
    E->nwords = (size + 31) / 32;
    E->qs = (int32_t *)calloc((size_t)(maxd + 1), sizeof(int32_t));
    Buf eb = {0};
    if (!E->qs) return PyErr_NoMemory(), -1;
    if (get_buf(eos, &eb, 0, "qlL", 8, "eos") < 0 || PyList_Append(E->keep, eos) < 0) {
        release(&eb);
        return -1;
    }
    E->EOS = eb.view.buf;
    E->neos = eb.view.len / 8;
    release(&eb);
    for (int64_t j = 0; j < E->neos; j++)
        if (E->EOS[j] < 0 || E->EOS[j] >= size) return PyErr_SetString(PyExc_ValueError, "engine: bad EOS id"), -1;
    /* DFAs */
    if (!PyList_Check(trans) || !PyList_Check(acc) || PyList_GET_SIZE(trans) != PyList_GET_SIZE(acc) || nlex < 0 ||
        nlex > PyList_GET_SIZE(trans))
        return PyErr_SetString(PyExc_ValueError, "engine: trans and acc lists of one length >= n_lex"), -1;
    E->nterm = (int32_t)PyList_GET_SIZE(trans);
    E->nlex = nlex;
    E->TR = (const int32_t **)calloc((size_t)E->nterm + 1, sizeof(int32_t *));
    E->AC = (const uint8_t **)calloc((size_t)E->nterm + 1, sizeof(uint8_t *));
    E->BASE = (int32_t *)calloc((size_t)E->nterm + 1, sizeof(int32_t));
    if (!E->TR || !E->AC || !E->BASE) return PyErr_NoMemory(), -1;
    int64_t G = 0;
    for (int32_t t = 0; t < E->nterm; t++) {
        Buf tb = {0}, ab = {0};
        PyObject *to = PyList_GET_ITEM(trans, t), *ao = PyList_GET_ITEM(acc, t);
        int ok = get_buf(to, &tb, 0, "iI", 4, "trans") == 0 && get_buf(ao, &ab, 0, "BbB?", 1, "acc") == 0 &&
                 PyList_Append(E->keep, to) == 0 && PyList_Append(E->keep, ao) == 0;
        const int64_t S = ab.view.len;
        if (ok && (tb.view.len / 4 != S * 256 || S < 1)) {
            PyErr_SetString(PyExc_ValueError, "engine: trans [S, 256] and acc [S] per terminal");
            ok = 0;
        }
        for (int64_t i = 0; ok && i < S * 256; i++)
            if (((const int32_t *)tb.view.buf)[i] >= S) {
                PyErr_SetString(PyExc_ValueError, "engine: a DFA transition out of range");
                ok = 0;
            }
        E->TR[t] = tb.view.buf;
        E->AC[t] = ab.view.buf;
        E->BASE[t] = (int32_t)G;
        RELEASE(&tb, &ab);
        if (!ok) return -1;
        G += S;
        if (G > INT32_MAX / 2) return PyErr_SetString(PyExc_ValueError, "engine: too many DFA states"), -1;
    }
    E->G = (int32_t)G;
    E->BASE[E->nterm] = E->G;
    E->TERM = (int32_t *)malloc((size_t)(G + 1) * sizeof(int32_t));
    E->tabs = (Table *)calloc((size_t)G + 1, sizeof(Table));
    if (!E->TERM || !E->tabs || iv_push(&E->cstart, 0) < 0) return PyErr_NoMemory(), -1;
    for (int32_t t = 0; t < E->nterm; t++)
        for (int32_t g = E->BASE[t]; g < E->BASE[t + 1]; g++) E->TERM[g] = t;
    return init_grammar(E, grammar);
}

static int Engine_traverse(Engine *E, visitproc visit, void *arg) {
    Py_VISIT(E->keep);
    Py_VISIT(E->resolver);
    return 0;
}

static int Engine_clear(Engine *E) {
    Py_CLEAR(E->resolver);
    return 0;
}

static void Engine_dealloc(Engine *E) {
    PyObject_GC_UnTrack(E);
    Engine_clear(E);
    Py_CLEAR(E->keep); /* after the tables that point into it */
    IVec *vecs[] = {&E->cstart, &E->cterms, &E->cafter, &E->ccomplete, &E->sthreads, &E->scomplete, &E->bval,
                    &E->pairs, &E->here, &E->key, &E->tmp, &E->qk, &E->cscan, &E->scanq, &E->cwait, &E->waitq,
                    &E->kernel_col, &E->signature_col, &E->items, &E->agenda, &E->sq, &E->wq};
    for (size_t i = 0; i < sizeof vecs / sizeof vecs[0]; i++) iv_free(vecs[i]);
    in_free(&E->sets);
    in_free(&E->states);
    in_free(&E->bkeys);
    in_free(&E->kernels);
    in_free(&E->signatures);
    free(E->seen);
    void *owned[] = {E->RLHS, E->RSTART, E->RSYM, E->LSTART, E->LRULES, E->predicted, E->NULLABLE};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) free(owned[i]);
    free(E->delta);
    free(E->qs);
    free(E->TR);
    free(E->AC);
    free(E->BASE);
    free(E->TERM);
    free(E->tabs);
    if (E->lock) PyThread_free_lock(E->lock);
    Py_TYPE(E)->tp_free((PyObject *)E);
}

static PyMethodDef Engine_methods[] = {
    {"initial", (PyCFunction)Engine_initial, METH_NOARGS, "The state at the start of the text."},
    {"next_bytes", (PyCFunction)Engine_next_bytes, METH_VARARGS, "next_bytes(state) -> bytes [256]: 1 = viable."},
    {"trim", (PyCFunction)Engine_trim, METH_NOARGS, "Drop the successor tables (state ids stay valid)."},
    {"mask", (PyCFunction)Engine_mask, METH_VARARGS, "mask(state, out int32 [ceil(size / 32)]): the packed mask."},
    {"fill", (PyCFunction)Engine_fill, METH_VARARGS, "fill(states int32 [B], out int32 [B, words]): packed masks."},
    {"feed", (PyCFunction)Engine_feed, METH_VARARGS, "feed(state, token) -> the state after the token's bytes."},
    {"feed_bytes", (PyCFunction)Engine_feed_bytes, METH_VARARGS, "feed_bytes(state, data) -> the state after."},
    {"info", (PyCFunction)Engine_info, METH_VARARGS, "info(state) -> (thread count, complete)."},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS, "Counts and resident bytes of the engine's tables."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "corral._engine.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The lazily built product automaton of one compiled grammar (see the module's C source).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_traverse = (traverseproc)Engine_traverse,
    .tp_clear = (inquiry)Engine_clear,
    .tp_methods = Engine_methods,
};

/* ------------------------------------------------------------------------------- token tables of DFA states */

typedef struct {
    const Node *N;
    const int64_t *I; /* token ids in trie order */
    const int32_t *T; /* [S, 256] */
    const uint8_t *A; /* [S] */
    int64_t lo, hi, NI, S; /* the nodes walked: [lo, hi), a union of whole trees */
    /* outputs */
    uint32_t *W; /* packed inside set [nw] or NULL */
    int64_t nw;
    int64_t *IO; /* inside ids, the first kcap of them */
    int64_t kcap, n_in;
    int32_t *NO; /* end nodes */
    int64_t cap, n_end;
    int64_t *in_starts, *end_starts; /* [n_roots + 1] by root ordinal (the k-th depth-1 node walked), or NULL */
    int64_t n_starts;
    /* a hub: root children reached in state hub take their part from the hub's table (by root ordinal) */
    int32_t hub;
    const int64_t *hub_ids, *hub_id_starts, *hub_end_starts;
    const int32_t *hub_ends;
    int64_t n_hub_starts, n_hub_ids, n_hub_ends;
} TableWalk;

static inline int add_inside(TableWalk *w, int64_t id) {
    if (id < 0 || (w->W && (id >> 5) >= w->nw)) return -1;
    if (w->W) w->W[id >> 5] |= 1u << (id & 31);
    if (w->n_in < w->kcap) w->IO[w->n_in] = id;
    w->n_in++;
    return 0;
}

/* Copy root r's part of the hub's table (root node i, its subtree ending before `skip`). */
static int copy_hub(TableWalk *w, int64_t r, int64_t i, int64_t skip) {
    if (r + 1 >= w->n_hub_starts) return 2;
    const int64_t a = w->hub_id_starts[r], b = w->hub_id_starts[r + 1];
    const int64_t c = w->hub_end_starts[r], d = w->hub_end_starts[r + 1];
    if (a < 0 || a > b || b > w->n_hub_ids || c < 0 || c > d || d > w->n_hub_ends) return 2;
    for (int64_t k = a; k < b; k++)
        if (add_inside(w, w->hub_ids[k]) < 0) return 2;
    for (int64_t k = c; k < d; k++) {
        if (w->n_end == w->cap) return 1;
        const int32_t e = w->hub_ends[k];
        if (e < i || e >= skip) return 2;
        w->NO[w->n_end++] = e;
    }
    return 0;
}

/* Walk nodes [lo, hi) from DFA state `state` (root < 0) or with every root child reached in state `root`
 * (root >= 0). Returns 0, 1 if the end capacity is too small, 2 for a malformed trie, DFA or hub table. */
static int table_walk(TableWalk *w, int32_t state, int32_t root) {
    int32_t qs[256];
    for (int d = 0; d < 256; d++) qs[d] = state < 0 ? 0 : state; /* a valid state whatever the trie holds */
    int64_t r = -1;                                                 /* root ordinal */
    const Node *N = w->N;
    const int32_t *T = w->T;
    const int64_t *I = w->I;
    uint32_t *W = w->W;
    for (int64_t i = w->lo; i < w->hi;) {
        const Node nd = N[i];
        if (nd.skip <= i || nd.skip > w->hi || nd.lo + (int64_t)nd.full > w->NI || nd.depth < 1) return 2;
        if (nd.depth == 1) {
            if (++r + 1 >= (w->in_starts ? w->n_starts : INT64_MAX)) return 2;
            if (w->in_starts) w->in_starts[r] = w->n_in;
            if (w->end_starts) w->end_starts[r] = w->n_end;
        }
        const int32_t q = nd.depth == 1 && root >= 0 ? root : T[(int64_t)qs[nd.depth - 1] * 256 + nd.byte];
        if (q < 0) {
            i = nd.skip;
            continue;
        }
        if (q >= w->S) return 2;
        if (nd.depth == 1 && q == w->hub) {
            const int rc = copy_hub(w, r, i, nd.skip);
            if (rc) return rc;
            i = nd.skip;
            continue;
        }
        qs[nd.depth] = q;
        for (int32_t k = nd.lo; k < nd.lo + nd.full; k++) {
            const int64_t id = I[k];
            if (id < 0 || (W && (id >> 5) >= w->nw)) return 2;
            if (W) W[id >> 5] |= 1u << (id & 31);
            if (w->n_in < w->kcap) w->IO[w->n_in] = id;
            w->n_in++;
        }
        if (w->A[q] && nd.kids) {
            if (w->n_end == w->cap) return 1;
            w->NO[w->n_end++] = (int32_t)i;
        }
        i++;
    }
    if (w->in_starts) w->in_starts[r + 1] = w->n_in;
    if (w->end_starts) w->end_starts[r + 1] = w->n_end;
    return 0;
}

/* ctable(nodes, ids, trans [S, 256], acc [S], state, root, lo, hi, words int32 [ceil(size / 32)] or None (out,
 *        zeroed), end_nodes int32 [cap] (out), inside int64 [k] (out), in_starts int64 [n] or None (out),
 *        end_starts int64 [n] or None (out), hub, hub tables (ids, id starts, end nodes, end starts) or Nones)
 *   -> (number of end nodes, number of inside tokens); (-1, -1) if cap is too small
 *
 * Walks the trie nodes [lo, hi) (packed Nodes in preorder, whole trees: see corral.tokens.native.Trie.packed)
 * from DFA state `state` (or, with root >= 0, with every root child reached in state `root`: a hub's table):
 * tokens whose bytes keep the DFA alive to their end are set in `words` (and the first k of them listed in
 * `inside`); a node where the DFA accepts and some token goes on below is an end node. Dead branches are skipped
 * whole; root children reached in state `hub` (>= 0) copy their part of the hub's table (walked over the same
 * nodes) instead of walking. The starts give each root child's part of the outputs, by ordinal. */
static PyObject *ctable(PyObject *self, PyObject *args) {
    PyObject *o[13];
    long long state, root, lo, hi, hub;
    if (!PyArg_ParseTuple(args, "OOOOLLLLOOOOOLOOOO", &o[0], &o[1], &o[2], &o[3], &state, &root, &lo, &hi, &o[4],
                          &o[5], &o[6], &o[7], &o[8], &hub, &o[9], &o[10], &o[11], &o[12]))
        return NULL;
    Buf b[13];
    memset(b, 0, sizeof b);
    const char *fmt[13] = {"BbB", "qlL", "iI", "BbB?", "iI", "iI", "qlL", "qlL", "qlL", "qlL", "qlL", "iI", "qlL"};
    const int size[13] = {1, 8, 4, 1, 4, 4, 8, 8, 8, 8, 8, 4, 8};
    const int writable[13] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0};
    const int optional[13] = {0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1};
    PyObject *result = NULL;
    for (int i = 0; i < 13; i++) {
        if (optional[i] && o[i] == Py_None) continue;
        if (get_buf(o[i], &b[i], writable[i], fmt[i], size[i], "ctable argument") < 0) goto done;
    }
    TableWalk w;
    memset(&w, 0, sizeof w);
    const int64_t M = b[0].view.len / (int64_t)sizeof(Node);
    w.N = b[0].view.buf;
    w.lo = lo;
    w.hi = hi;
    w.I = b[1].view.buf;
    w.NI = b[1].view.len / 8;
    w.T = b[2].view.buf;
    w.A = b[3].view.buf;
    w.S = b[3].view.len;
    w.W = b[4].held ? b[4].view.buf : NULL;
    w.nw = b[4].held ? b[4].view.len / 4 : 0;
    w.NO = b[5].view.buf;
    w.cap = b[5].view.len / 4;
    w.IO = b[6].view.buf;
    w.kcap = b[6].view.len / 8;
    w.in_starts = b[7].held ? b[7].view.buf : NULL;
    w.end_starts = b[8].held ? b[8].view.buf : NULL;
    w.n_starts = b[7].held ? b[7].view.len / 8 : 0;
    w.hub = (int32_t)hub;
    int ok = b[0].view.len % (int64_t)sizeof(Node) == 0 && 0 <= lo && lo <= hi && hi <= M &&
             b[2].view.len / 4 == w.S * 256 && state < w.S && root < w.S && hub < w.S &&
             (state >= 0) != (root >= 0) && b[7].held == b[8].held &&
             (!b[8].held || b[8].view.len / 8 == w.n_starts);
    if (ok && hub >= 0) {
        ok = b[9].held && b[10].held && b[11].held && b[12].held && b[10].view.len == b[12].view.len;
        if (ok) {
            w.hub_ids = b[9].view.buf;
            w.n_hub_ids = b[9].view.len / 8;
            w.hub_id_starts = b[10].view.buf;
            w.n_hub_starts = b[10].view.len / 8;
            w.hub_ends = b[11].view.buf;
            w.n_hub_ends = b[11].view.len / 4;
            w.hub_end_starts = b[12].view.buf;
        }
    }
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "ctable: bad shapes, node range, states or hub tables");
        goto done;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = table_walk(&w, (int32_t)state, (int32_t)root);
    Py_END_ALLOW_THREADS
    if (rc == 2)
        PyErr_SetString(PyExc_ValueError, "ctable: malformed trie, DFA or hub table");
    else
        result = Py_BuildValue("(LL)", (long long)(rc ? -1 : w.n_end), (long long)(rc ? -1 : w.n_in));
done:
    for (int i = 0; i < 13; i++) release(&b[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"ctable", ctable, METH_VARARGS, "Packed inside set and end nodes of one DFA state by a walk of the trie."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "corral._engine",
                                    "Compiled mask engine of corral (see corral.runtime.engine).", -1, methods};

PyMODINIT_FUNC PyInit__engine(void) {
    if (PyType_Ready(&EngineType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
