#include "native.h"

/* ---- merging chunk results (Summary.merge) -------------------------------------------------- */
/* old | g as a new int (NULL with *same set: nothing changes; NULL otherwise: an error). A mask wider
   than 64 bits (a summary of more than 63 services) takes Python's int. */
static PyObject *or_mask(PyObject *old, unsigned long long g, int *same) {
    int overflow = 0;
    *same = 0;
    long long o = PyLong_AsLongLongAndOverflow(old, &overflow);
    if (o == -1 && PyErr_Occurred()) return NULL;
    if (!overflow && o >= 0) {
        if (((unsigned long long)o | g) == (unsigned long long)o) { *same = 1; return NULL; }
        return PyLong_FromUnsignedLongLong((unsigned long long)o | g);
    }
    PyObject *gg = PyLong_FromUnsignedLongLong(g);
    PyObject *r = gg ? PyNumber_Or(old, gg) : NULL;
    Py_XDECREF(gg);
    if (!r) return NULL;
    int eq = PyObject_RichCompareBool(r, old, Py_EQ);
    if (eq != 0) { Py_DECREF(r); *same = eq > 0; return NULL; }
    return r;
}

/* a chunk's service bits (bit i = its service i) in the summary's bits */
typedef struct { unsigned long long bit[64]; Py_ssize_t n; int identity; } BitMap;

/* 1, or 0 when a bit does not fit in 63 (more than 63 services: the caller merges in Python) */
static int bit_map(PyObject *bits, BitMap *bm) {
    bm->n = PyList_GET_SIZE(bits);
    bm->identity = 1;
    if (bm->n > 63) return 0;
    for (Py_ssize_t i = 0; i < bm->n; i++) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(bits, i), &overflow);
        if (overflow || v <= 0 || v > (1LL << 62)) { PyErr_Clear(); return 0; }
        bm->bit[i] = (unsigned long long)v;
        if (bm->bit[i] != 1ULL << i) bm->identity = 0;
    }
    return 1;
}

static unsigned long long remap(const BitMap *bm, unsigned long long m) {
    if (bm->identity) return m;
    unsigned long long g = 0;
    for (Py_ssize_t i = 0; i < bm->n; i++) if (m >> i & 1) g |= bm->bit[i];
    return g;
}

/* traces[key] |= g; a new id only while len(traces) < max_traces (else counted): 0, or -1 */
static int merge_one(PyObject *traces, PyObject *key, unsigned long long g, Py_ssize_t max_traces, Py_ssize_t *untracked) {
    PyObject *nv, *old;
    if (PyDict_GET_SIZE(traces) < max_traces) {  /* one lookup: a new id takes the mask as it is */
        nv = PyLong_FromUnsignedLongLong(g);
        if (!nv) return -1;
        old = PyDict_SetDefault(traces, key, nv);
        Py_DECREF(nv);
        if (!old) return -1;
        if (old == nv) return 0;
    } else {
        old = PyDict_GetItemWithError(traces, key);
        if (!old) {
            if (PyErr_Occurred()) return -1;
            (*untracked)++;
            return 0;
        }
    }
    int same;
    nv = or_mask(old, g, &same);
    if (same) return 0;
    int rc = !nv || PyDict_SetItem(traces, key, nv) ? -1 : 0;
    Py_XDECREF(nv);
    return rc;
}

/* merge_traces(traces, incoming, bits, max_traces) -> untracked: incoming's per-trace masks (bit i =
   its service i) ORed into traces under the global bits, new ids only while len(traces) < max_traces. */
PyObject *merge_traces(PyObject *self, PyObject *args) {
    PyObject *traces, *incoming, *bits;
    Py_ssize_t max_traces;
    if (!PyArg_ParseTuple(args, "O!O!O!n", &PyDict_Type, &traces, &PyDict_Type, &incoming, &PyList_Type, &bits, &max_traces))
        return NULL;
    BitMap bm;
    if (!bit_map(bits, &bm)) Py_RETURN_NONE;
    Py_ssize_t pos = 0, untracked = 0;
    PyObject *key, *mask;
    while (PyDict_Next(incoming, &pos, &key, &mask)) {
        int overflow = 0;
        long long m = PyLong_AsLongLongAndOverflow(mask, &overflow);
        if (overflow || m < 0) { PyErr_SetString(PyExc_ValueError, "merge_traces: a mask out of range"); return NULL; }
        if (merge_one(traces, key, remap(&bm, (unsigned long long)m), max_traces, &untracked)) return NULL;
    }
    return PyLong_FromSsize_t(untracked);
}

/* merge_aliases(aliases, incoming, max_traces) -> dropped: the first primary of an alias wins */
PyObject *merge_aliases(PyObject *self, PyObject *args) {
    PyObject *aliases, *incoming;
    Py_ssize_t max_traces;
    if (!PyArg_ParseTuple(args, "O!O!n", &PyDict_Type, &aliases, &PyDict_Type, &incoming, &max_traces)) return NULL;
    Py_ssize_t pos = 0, dropped = 0, room = max_traces - PyDict_GET_SIZE(aliases);
    PyObject *key, *primary;
    while (PyDict_Next(incoming, &pos, &key, &primary)) {
        int has = PyDict_Contains(aliases, key);
        if (has < 0) return NULL;
        if (has) continue;
        if (room <= 0) { dropped++; continue; }
        if (PyDict_SetItem(aliases, key, primary)) return NULL;
        room--;
    }
    return PyLong_FromSsize_t(dropped);
}

int widen(PyObject *into, PyObject *spans) {
    Py_ssize_t pos = 0;
    PyObject *svc, *span;
    while (PyDict_Next(spans, &pos, &svc, &span)) {
        if (!PyList_Check(span) || PyList_GET_SIZE(span) != 2) { PyErr_SetString(PyExc_TypeError, "a span is [first, last]"); return -1; }
        double lo = PyFloat_AsDouble(PyList_GET_ITEM(span, 0)), hi = PyFloat_AsDouble(PyList_GET_ITEM(span, 1));
        if (PyErr_Occurred()) return -1;
        PyObject *have = PyDict_GetItemWithError(into, svc);
        if (!have) {
            if (PyErr_Occurred()) return -1;
            PyObject *copy = Py_BuildValue("[dd]", lo, hi);
            if (!copy || PyDict_SetItem(into, svc, copy)) { Py_XDECREF(copy); return -1; }
            Py_DECREF(copy);
            continue;
        }
        double a = PyFloat_AsDouble(PyList_GET_ITEM(have, 0)), b = PyFloat_AsDouble(PyList_GET_ITEM(have, 1));
        if (PyErr_Occurred()) return -1;
        if (lo < a) { PyObject *f = PyFloat_FromDouble(lo); if (!f || PyList_SetItem(have, 0, f)) return -1; }
        if (hi > b) { PyObject *f = PyFloat_FromDouble(hi); if (!f || PyList_SetItem(have, 1, f)) return -1; }
    }
    return 0;
}

/* merge_spans(spans, incoming, max_spans): per-trace per-service [first, last], widened; new traces
   only while len(spans) < max_spans */
PyObject *merge_spans(PyObject *self, PyObject *args) {
    PyObject *spans, *incoming;
    Py_ssize_t max_spans;
    if (!PyArg_ParseTuple(args, "O!O!n", &PyDict_Type, &spans, &PyDict_Type, &incoming, &max_spans)) return NULL;
    Py_ssize_t pos = 0;
    PyObject *trace, *by_service;
    while (PyDict_Next(incoming, &pos, &trace, &by_service)) {
        if (!PyDict_Check(by_service)) { PyErr_SetString(PyExc_TypeError, "spans are dicts"); return NULL; }
        PyObject *have = PyDict_GetItemWithError(spans, trace);
        if (!have) {
            if (PyErr_Occurred()) return NULL;
            if (PyDict_GET_SIZE(spans) >= max_spans) continue;
            PyObject *fresh = PyDict_New();
            if (!fresh || widen(fresh, by_service) || PyDict_SetItem(spans, trace, fresh)) { Py_XDECREF(fresh); return NULL; }
            Py_DECREF(fresh);
            continue;
        }
        if (widen(have, by_service)) return NULL;
    }
    Py_RETURN_NONE;
}

int earliest(PyObject *into, PyObject *errors) {
    Py_ssize_t pos = 0;
    PyObject *svc, *entry;
    while (PyDict_Next(errors, &pos, &svc, &entry)) {
        PyObject *old = PyDict_GetItemWithError(into, svc);
        if (!old && PyErr_Occurred()) return -1;
        if (old) {
            int lt = PyObject_RichCompareBool(PyTuple_GET_ITEM(entry, 0), PyTuple_GET_ITEM(old, 0), Py_LT);
            if (lt < 0) return -1;
            if (!lt) continue;
        }
        if (PyDict_SetItem(into, svc, entry)) return -1;
    }
    return 0;
}

/* dict[alias], when there, merged into dict.setdefault(primary, {}) by merge, and removed */
static int move_entry(PyObject *dict, PyObject *alias, PyObject *primary, int (*merge)(PyObject *, PyObject *)) {
    PyObject *mine = PyDict_GetItemWithError(dict, alias);
    if (!mine) return PyErr_Occurred() ? -1 : 0;
    Py_INCREF(mine);
    PyObject *fresh = PyDict_New();
    PyObject *into = fresh ? PyDict_SetDefault(dict, primary, fresh) : NULL;
    Py_XDECREF(fresh);
    int bad = !into || PyDict_DelItem(dict, alias) || merge(into, mine);
    Py_DECREF(mine);
    return bad ? -1 : 0;
}

/* fold_aliases(aliases, traces, spans, first_errors): Summary._fold_aliases - an id logged next to
   another is the same request: its masks, spans and first errors go to the id it leads to */
PyObject *fold_aliases(PyObject *self, PyObject *args) {
    PyObject *aliases, *traces, *spans, *first_errors;
    if (!PyArg_ParseTuple(args, "O!O!O!O!", &PyDict_Type, &aliases, &PyDict_Type, &traces, &PyDict_Type, &spans,
                          &PyDict_Type, &first_errors))
        return NULL;
    PyObject *keys = PyDict_Keys(aliases);
    if (!keys) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
        PyObject *alias = PyList_GET_ITEM(keys, i);
        PyObject *primary = PyDict_GetItemWithError(aliases, alias);
        if (!primary) goto fail;
        for (int hop = 0; hop < 8; hop++) {
            PyObject *next = PyDict_GetItemWithError(aliases, primary);
            if (!next && PyErr_Occurred()) goto fail;
            if (!next) break;
            int same = PyObject_RichCompareBool(next, primary, Py_EQ);
            if (same < 0) goto fail;
            if (same) break;
            primary = next;
        }
        int same = PyObject_RichCompareBool(alias, primary, Py_EQ);
        if (same < 0) goto fail;
        if (same) continue;
        Py_INCREF(primary);
        if (move_entry(spans, alias, primary, widen)) { Py_DECREF(primary); goto fail; }
        PyObject *mine = PyDict_GetItemWithError(traces, alias);
        if (!mine) { Py_DECREF(primary); if (PyErr_Occurred()) goto fail; continue; }
        PyObject *theirs = PyDict_GetItemWithError(traces, primary);
        if (!theirs && PyErr_Occurred()) { Py_DECREF(primary); goto fail; }
        PyObject *zero = PyLong_FromLong(0);
        PyObject *merged = zero ? PyNumber_Or(theirs ? theirs : zero, mine) : NULL;
        Py_XDECREF(zero);
        if (!merged || PyDict_SetItem(traces, primary, merged) || PyDict_DelItem(traces, alias)) {
            Py_XDECREF(merged); Py_DECREF(primary); goto fail;
        }
        Py_DECREF(merged);
        if (move_entry(first_errors, alias, primary, earliest)) { Py_DECREF(primary); goto fail; }
        Py_DECREF(primary);
    }
    Py_DECREF(keys);
    Py_RETURN_NONE;
fail:
    Py_DECREF(keys);
    return NULL;
}

/* pack_traces(traces) -> bytes (None when a key or mask does not fit): a chunk result's per-trace
   masks as one string, [u32 length][u64 mask][id] each, sent from a worker for merge_packed */
PyObject *pack_traces(PyObject *self, PyObject *args) {
    PyObject *traces;
    if (!PyArg_ParseTuple(args, "O!", &PyDict_Type, &traces)) return NULL;
    Py_ssize_t pos = 0, size = 0;
    PyObject *key, *mask;
    while (PyDict_Next(traces, &pos, &key, &mask)) {
        if (!PyBytes_CheckExact(key) || !PyLong_CheckExact(mask) || PyBytes_GET_SIZE(key) > 0x7fffffff) Py_RETURN_NONE;
        size += 12 + PyBytes_GET_SIZE(key);
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (!out) return NULL;
    char *w = PyBytes_AS_STRING(out);
    pos = 0;
    while (PyDict_Next(traces, &pos, &key, &mask)) {
        int overflow = 0;
        long long m = PyLong_AsLongLongAndOverflow(mask, &overflow);
        if (overflow || m < 0) { Py_DECREF(out); PyErr_Clear(); Py_RETURN_NONE; }
        uint32_t n = (uint32_t)PyBytes_GET_SIZE(key);
        uint64_t mm = (uint64_t)m;
        memcpy(w, &n, 4); memcpy(w + 4, &mm, 8); memcpy(w + 12, PyBytes_AS_STRING(key), n);
        w += 12 + n;
    }
    return out;
}

/* the next [u32 length][u64 mask][id] of a packed string: 1, 0 at its end, -1 (ValueError) when cut */
static int packed_next(const char **p, const char *e, const char **id, uint32_t *n, uint64_t *m) {
    if (*p == e) return 0;
    if (e - *p < 12) goto cut;
    memcpy(n, *p, 4); memcpy(m, *p + 4, 8);
    if ((Py_ssize_t)*n > e - *p - 12) goto cut;
    *id = *p + 12;
    *p += 12 + *n;
    return 1;
cut:
    PyErr_SetString(PyExc_ValueError, "a packed trace string is cut");
    return -1;
}

/* unpack_traces(packed) -> dict */
PyObject *unpack_traces(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    PyObject *out = PyDict_New();
    const char *p = b.buf, *e = p + b.len, *id;
    uint32_t n; uint64_t m;
    int more;
    while (out && (more = packed_next(&p, e, &id, &n, &m)) != 0) {
        PyObject *k = more > 0 ? PyBytes_FromStringAndSize(id, n) : NULL, *v = k ? PyLong_FromUnsignedLongLong(m) : NULL;
        if (!k || !v || PyDict_SetItem(out, k, v)) Py_CLEAR(out);
        Py_XDECREF(k); Py_XDECREF(v);
    }
    PyBuffer_Release(&b);
    return out;
}

/* merge_packed(traces, packed, bits, max_traces) -> untracked (None: too many services) */
PyObject *merge_packed(PyObject *self, PyObject *args) {
    PyObject *traces, *bits;
    Py_buffer b;
    Py_ssize_t max_traces;
    if (!PyArg_ParseTuple(args, "O!y*O!n", &PyDict_Type, &traces, &b, &PyList_Type, &bits, &max_traces)) return NULL;
    PyObject *result = NULL;
    BitMap bm;
    Py_ssize_t untracked = 0;
    if (!bit_map(bits, &bm)) { result = Py_None; Py_INCREF(result); goto out; }
    const char *p = b.buf, *e = p + b.len, *id;
    uint32_t n; uint64_t m;
    int more;
    while ((more = packed_next(&p, e, &id, &n, &m)) > 0) {
        PyObject *key = PyBytes_FromStringAndSize(id, n);
        int rc = key ? merge_one(traces, key, remap(&bm, m), max_traces, &untracked) : -1;
        Py_XDECREF(key);
        if (rc) goto out;
    }
    if (more == 0) result = PyLong_FromSsize_t(untracked);
out:
    PyBuffer_Release(&b);
    return result;
}
