/* The native log scanner: ChunkScanner.scan(data, res, service, kind) in one compiled pass, for files,
 * docker: streams (dockerd's time before each line) and journald entries.
 *
 * A line is read here only when its reading is certain to be the one the exact Python parser
 * (extract.py) gives: JSON objects (flat or nested; Docker json-file records wrapping text or JSON;
 * journald entries, whose MESSAGE is read as a line of its own), vLLM / SGLang / uvicorn text, logfmt,
 * plain text with the default trace patterns, traceback continuations. Any other line (invalid or odd
 * JSON, non-ASCII text, escapes or non-ASCII in wanted values, a profile's own trace patterns, an
 * unusual PRIORITY, ...) is handed to the Python parser as it is, with the traceback state it would have
 * had, and counted (Scanner.stats). Records are accounted here, error records too (message, normalised
 * message, first error per service); the few whose message only Python can give are read again by it.
 * Times whose zone or calendar needs Python (the epoch of an hour, a yearless vLLM date) are asked of
 * timeparse once per hour and cached. Files: chars (classes, SSE2 scans), times, json, fields, text,
 * record (a line's format), journal, account, merge (Summary's merges), module (this: the type).
 * tests/logscan/test_native*.py and tests/fuzz/test_native_fuzz.py hold it to the exact parser.
 */
#include "native.h"

/* ---- the scan ------------------------------------------------------------------------------ */
PyObject *call_begin(Scanner *s, PyObject *res, PyObject *service) {
    s->res = res; s->service = service;
    s->traces = PyObject_GetAttrString(res, "traces");
    s->aliases = PyObject_GetAttrString(res, "aliases");
    s->spans = PyObject_GetAttrString(res, "spans");
    s->problems = PyObject_GetAttrString(res, "problems");
    s->messages = PyObject_GetAttrString(res, "messages");
    s->untraced = PyObject_GetAttrString(res, "untraced_errors");
    s->first_errors = PyObject_GetAttrString(res, "first_errors");
    if (!s->traces || !s->aliases || !s->spans || !s->problems || !s->messages || !s->untraced || !s->first_errors) return NULL;
    if (!PyDict_Check(s->messages) || !PyDict_Check(s->untraced) || !PyDict_Check(s->first_errors)) {
        PyErr_SetString(PyExc_TypeError, "native scanner: a ChunkResult is needed");
        return NULL;
    }
    if (!PyDict_Check(s->traces) || !PyDict_Check(s->aliases) || !PyDict_Check(s->spans) || !PyDict_Check(s->problems)) {
        PyErr_SetString(PyExc_TypeError, "native scanner: a ChunkResult is needed");
        return NULL;
    }
    PyObject *tb = PyObject_GetAttrString(s->parser, "in_traceback");
    if (!tb) return NULL;
    s->in_tb = PyObject_IsTrue(tb);
    Py_DECREF(tb);
    PyObject *ref = PyObject_GetAttrString(s->parser, "ref");
    if (!ref) return NULL;
    PyObject *n3600 = PyLong_FromLong(3600);
    PyObject *fl = n3600 ? PyNumber_FloorDivide(ref, n3600) : NULL;
    Py_XDECREF(n3600);
    Py_DECREF(ref);
    if (!fl) return NULL;
    double h = PyFloat_AsDouble(fl);
    Py_DECREF(fl);
    if (h == -1.0 && PyErr_Occurred()) return NULL;
    long long hh = (long long)h;
    if (!s->yref_valid || hh != s->yref_hour) {
        memset(s->ydays, 0, sizeof s->ydays);
        s->yref_hour = hh; s->yref_valid = 1;
    }
    s->ncounts = 0; s->d_lines = s->d_outside = s->d_undated = s->d_errors = 0; s->have_ts = 0;
    return Py_None;
}

void call_end(Scanner *s) {
    for (int i = 0; i < s->ncounts; i++) { Py_CLEAR(s->counts[i].svc); Py_CLEAR(s->counts[i].bit); }
    s->ncounts = 0;
    Py_CLEAR(s->traces); Py_CLEAR(s->aliases); Py_CLEAR(s->spans); Py_CLEAR(s->problems);
    Py_CLEAR(s->messages); Py_CLEAR(s->untraced); Py_CLEAR(s->first_errors);
    s->res = NULL; s->service = NULL;
}

static PyObject *Scanner_scan(Scanner *s, PyObject *args) {
    Py_buffer view;
    PyObject *res, *service, *kind = NULL;
    if (!PyArg_ParseTuple(args, "y*OU|U", &view, &res, &service, &kind)) return NULL;
    int docker = 0;
    if (kind && PyUnicode_CompareWithASCIIString(kind, "docker") == 0) docker = 1;
    else if (kind && PyUnicode_CompareWithASCIIString(kind, "file") != 0 && PyUnicode_CompareWithASCIIString(kind, "journald") != 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "native scanner: kind is file, docker or journald");
        return NULL;
    }
    s->kind = kind ? kind : s->kind_file;
    Rec *pending = &s->slots[0], *cur = &s->slots[1];
    pending->active = cur->active = 0;
    PyObject *result = NULL;
    if (!call_begin(s, res, service) || add_attr(res, "bytes_fast", view.len)) goto out;
    PyObject *pend = PyObject_GetAttrString(res, "pending");
    if (!pend) goto out;
    if (pend != Py_None) { pending->active = 2; pending->py = pend; } else Py_DECREF(pend);
    const char *data = view.buf, *end = data + view.len, *line = data;
    for (;;) {
        const char *nl = memchr(line, '\n', end - line);
        const char *stop = nl ? nl : end;
        Py_ssize_t n = stop - line;
        int tb_before = s->in_tb, has_tsdef = 0;
        double tsdef = 0.0;
        const char *raw_line = line;
        if (docker) {
            Py_ssize_t skip = docker_prefix(s, line, n, &has_tsdef, &tsdef);
            if (skip < 0) goto out;
            raw_line = line + skip; n -= skip;
        }
        cur->active = 0;
        int kind = parse_line(s, cur, raw_line, n, has_tsdef, tsdef);
        if (kind == R_FAIL) goto out;
        if (kind == R_BAIL) {
            s->fallbacks++;
            s->in_tb = tb_before;
            if (PyObject_SetAttrString(s->parser, "in_traceback", tb_before ? Py_True : Py_False)) goto out;
            PyObject *raw = PyBytes_FromStringAndSize(raw_line, n);
            PyObject *ts = has_tsdef ? PyFloat_FromDouble(tsdef) : (Py_INCREF(Py_None), Py_None);
            PyObject *t = raw && ts ? PyObject_CallFunctionObjArgs(s->parse, raw, service, s->kind, ts, NULL) : NULL;
            Py_XDECREF(raw); Py_XDECREF(ts);
            if (!t) goto out;
            PyObject *tb = PyObject_GetAttrString(s->parser, "in_traceback");
            if (!tb) { Py_DECREF(t); goto out; }
            s->in_tb = PyObject_IsTrue(tb);
            Py_DECREF(tb);
            PyObject *rec = PyTuple_GET_ITEM(t, 0), *problem = PyTuple_GET_ITEM(t, 1);
            if (problem != Py_None && PyObject_IsTrue(problem) && bump(s->problems, problem)) { Py_DECREF(t); goto out; }
            if (rec != Py_None) {
                PyObject *cont = PyObject_GetAttrString(rec, "cont");
                long cv = cont ? PyLong_AsLong(cont) : -1;
                Py_XDECREF(cont);
                if (cv == -1 && PyErr_Occurred()) { Py_DECREF(t); goto out; }
                if (cv && pending->active) {
                    if (cv == 2 && set_traceback(pending)) { Py_DECREF(t); goto out; }
                } else {
                    if (pending->active && account(s, pending)) { Py_DECREF(t); goto out; }
                    rec_clear(pending);
                    pending->active = 2; Py_INCREF(rec); pending->py = rec;
                }
            }
            Py_DECREF(t);
        } else if (kind == R_REC) {
            cur->active = 1; cur->tb_before = tb_before; cur->raw = raw_line; cur->rawlen = n;
            cur->has_tsdef = has_tsdef; cur->tsdef = tsdef;
            if (cur->cont && pending->active) {
                if (cur->cont == 2 && set_traceback(pending)) goto out;
            } else {
                if (pending->active && account(s, pending)) goto out;
                rec_clear(pending);
                Rec *swap = pending; pending = cur; cur = swap;
                cur->active = 0;
            }
        }
        if (!nl) break;
        line = nl + 1;
    }
    /* the last record waits in res.pending for its traceback lines, as a Python record */
    PyObject *keep = Py_None;
    Py_INCREF(keep);
    if (pending->active == 2) { Py_DECREF(keep); keep = pending->py; Py_INCREF(keep); }
    else if (pending->active == 1) { Py_DECREF(keep); keep = reparse(s, pending); if (!keep) goto out; }
    int rc = PyObject_SetAttrString(res, "pending", keep);
    Py_DECREF(keep);
    if (rc || flush(s)) goto out;
    if (PyObject_SetAttrString(s->parser, "in_traceback", s->in_tb ? Py_True : Py_False)) goto out;
    result = Py_None; Py_INCREF(result);
out:
    rec_clear(pending); rec_clear(cur);
    call_end(s);
    PyBuffer_Release(&view);
    return result;
}

/* ---- the type ------------------------------------------------------------------------------ */
int add_fields(Scanner *s, PyObject *settings, const char *attr, int mask) {
    PyObject *names = PyObject_GetAttrString(settings, attr);
    if (!names) return -1;
    PyObject *seq = PySequence_Fast(names, "fields must be a sequence");
    Py_DECREF(names);
    if (!seq) return -1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        Py_ssize_t n;
        const char *k = PyUnicode_AsUTF8AndSize(PySequence_Fast_GET_ITEM(seq, i), &n);
        if (!k) { Py_DECREF(seq); return -1; }
        int m = mask;
        if (mask == F_LVL && n == 8 && ci_eq(k, "priority", 8)) m |= F_PRIO;
        if (field_add(s, k, n, m)) { Py_DECREF(seq); PyErr_SetString(PyExc_ValueError, "too many fields"); return -1; }
    }
    Py_DECREF(seq);
    return 0;
}

int opt_time(PyObject *settings, const char *attr, int *has, double *out) {
    PyObject *v = PyObject_GetAttrString(settings, attr);
    if (!v) return -1;
    *has = v != Py_None;
    if (*has) *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    return (*has && *out == -1.0 && PyErr_Occurred()) ? -1 : 0;
}

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kw) {
    PyObject *cs;
    if (!PyArg_ParseTuple(args, "O", &cs)) return -1;
    if (s->chunk_scanner) { PyErr_SetString(PyExc_RuntimeError, "Scanner is initialised once"); return -1; }
    Py_INCREF(cs); s->chunk_scanner = cs;
    PyObject *settings = PyObject_GetAttrString(cs, "s");
    s->parser = PyObject_GetAttrString(cs, "parser");
    s->account = PyObject_GetAttrString(cs, "account");
    if (!settings || !s->parser || !s->account) { Py_XDECREF(settings); return -1; }
    s->parse = PyObject_GetAttrString(s->parser, "parse");
    s->tz = PyObject_GetAttrString(s->parser, "tz");
    PyObject *tp = PyImport_ImportModule("autoglm_doctor.logscan.timeparse");
    PyObject *st = PyImport_ImportModule("autoglm_doctor.logscan.settings");
    PyObject *sc = PyImport_ImportModule("autoglm_doctor.logscan.scan");
    int rc = -1;
    if (!s->parse || !s->tz || !tp || !st || !sc) goto done;
    s->utc = PyObject_GetAttrString(tp, "UTC");
    s->iso_hour = PyObject_GetAttrString(tp, "_iso_hour");
    s->hour_base = PyObject_GetAttrString(tp, "_hour_base");
    s->parse_iso_py = PyObject_GetAttrString(tp, "parse_iso");
    s->kind_file = PyUnicode_FromString("file");
    PyObject *sample = PyObject_GetAttrString(sc, "SPAN_SAMPLE");
    if (!s->utc || !s->iso_hour || !s->hour_base || !s->parse_iso_py || !s->kind_file || !sample) { Py_XDECREF(sample); goto done; }
    s->span_sample = PyLong_AsLong(sample);
    Py_DECREF(sample);
    PyObject *maxm = PyObject_GetAttrString(sc, "MAX_MESSAGES");
    if (!maxm) goto done;
    s->max_messages = PyLong_AsLong(maxm);
    Py_DECREF(maxm);
    s->other_key_text = PyUnicode_FromString("(other messages)");
    if (!s->other_key_text) goto done;
    PyObject *defaults = PyObject_GetAttrString(st, "DEFAULT_TRACE_PATTERNS");
    PyObject *mine = PyObject_GetAttrString(settings, "trace_patterns");
    if (!defaults || !mine) { Py_XDECREF(defaults); Py_XDECREF(mine); goto done; }
    PyObject *a = PySequence_Tuple(defaults), *b = PySequence_Tuple(mine);
    Py_DECREF(defaults); Py_DECREF(mine);
    if (!a || !b) { Py_XDECREF(a); Py_XDECREF(b); goto done; }
    s->default_patterns = PyObject_RichCompareBool(a, b, Py_EQ);
    Py_DECREF(a); Py_DECREF(b);
    if (s->default_patterns < 0) goto done;
    if (add_fields(s, settings, "trace_fields", F_ID) || add_fields(s, settings, "service_fields", F_SVC)
        || add_fields(s, settings, "level_fields", F_LVL) || add_fields(s, settings, "time_fields", F_TIME)
        || add_fields(s, settings, "message_fields", F_MSG) || add_fields(s, settings, "status_fields", F_STATUS))
        goto done;
    if (opt_time(settings, "since", &s->has_since, &s->since) || opt_time(settings, "until", &s->has_until, &s->until)) goto done;
    rc = 0;
done:
    Py_XDECREF(settings); Py_XDECREF(tp); Py_XDECREF(st); Py_XDECREF(sc);
    (void)kw;
    return rc;
}

/* the scanner and its ChunkScanner refer to each other: the cyclic GC sees both */
static int Scanner_traverse(Scanner *s, visitproc visit, void *arg) {
    Py_VISIT(s->chunk_scanner); Py_VISIT(s->parser); Py_VISIT(s->parse); Py_VISIT(s->account);
    Py_VISIT(s->tz);
    return 0;
}

static int Scanner_clear(Scanner *s) {
    Py_CLEAR(s->chunk_scanner); Py_CLEAR(s->parser); Py_CLEAR(s->parse); Py_CLEAR(s->account);
    Py_CLEAR(s->tz); Py_CLEAR(s->utc); Py_CLEAR(s->iso_hour); Py_CLEAR(s->hour_base);
    Py_CLEAR(s->parse_iso_py); Py_CLEAR(s->kind_file); Py_CLEAR(s->other_key_text);
    for (int i = 0; i < s->nnames; i++) Py_CLEAR(s->name_obj[i]);
    return 0;
}

static void Scanner_dealloc(Scanner *s) {
    PyObject_GC_UnTrack(s);
    Scanner_clear(s);
    for (int i = 0; i < FIELDTAB; i++) PyMem_Free(s->fields[i].key);
    for (int i = 0; i < s->nnames; i++) PyMem_Free(s->names[i]);
    PyMem_Free(s->buf);
    PyMem_Free(s->jbuf);
    PyMem_Free(s->slots[0].msg); PyMem_Free(s->slots[1].msg);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Scanner_stats(Scanner *s, void *closure) {
    (void)closure;
    return Py_BuildValue("{sLsL}", "fallbacks", s->fallbacks, "reparsed", s->reparsed);
}

static PyMethodDef module_methods[] = {
    {"pack_traces", pack_traces, METH_VARARGS, "pack_traces(traces) -> bytes | None"},
    {"unpack_traces", unpack_traces, METH_VARARGS, "unpack_traces(packed) -> dict"},
    {"merge_packed", merge_packed, METH_VARARGS, "merge_packed(traces, packed, bits, max_traces) -> untracked | None"},
    {"fold_aliases", fold_aliases, METH_VARARGS, "fold_aliases(aliases, traces, spans, first_errors): Summary._fold_aliases"},
    {"merge_traces", merge_traces, METH_VARARGS, "merge_traces(traces, incoming, bits, max_traces) -> untracked (None: too many services)"},
    {"merge_aliases", merge_aliases, METH_VARARGS, "merge_aliases(aliases, incoming, max_traces) -> dropped"},
    {"merge_spans", merge_spans, METH_VARARGS, "merge_spans(spans, incoming, max_spans)"},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef Scanner_methods[] = {
    {"scan", (PyCFunction)Scanner_scan, METH_VARARGS,
     "scan(data, res, service): ChunkScanner.scan(data, res, service, 'file'), natively"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Scanner_getset[] = {
    {"stats", (getter)Scanner_stats, NULL, "lines left to the Python parser, error records read again by it", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ScannerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "autoglm_doctor.logscan._native.Scanner",
    .tp_basicsize = sizeof(Scanner),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)Scanner_traverse,
    .tp_clear = (inquiry)Scanner_clear,
    .tp_doc = "Scanner(chunk_scanner): the native reading of ChunkScanner.scan for plain files",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Scanner_init,
    .tp_dealloc = (destructor)Scanner_dealloc,
    .tp_methods = Scanner_methods,
    .tp_getset = Scanner_getset,
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "The native log scanner.", -1, module_methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) {
    init_classes();
    if (PyType_Ready(&ScannerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Py_INCREF(&ScannerType);
    if (PyModule_AddObject(m, "Scanner", (PyObject *)&ScannerType) < 0) { Py_DECREF(&ScannerType); Py_DECREF(m); return NULL; }
    return m;
}
