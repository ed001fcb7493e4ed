#include "native.h"

/* ---- accounting ---------------------------------------------------------------------------- */
SvcCount *count_of(Scanner *s, PyObject *svc) {
    for (int i = 0; i < s->ncounts; i++) if (s->counts[i].svc == svc) return &s->counts[i];
    if (s->ncounts == MAXSVC) return NULL;
    SvcCount *c = &s->counts[s->ncounts++];
    Py_INCREF(svc);
    c->svc = svc; c->recs = 0; c->traced = 0; c->bit = NULL; c->bitval = -1;
    return c;
}

int add_attr(PyObject *obj, const char *name, long long delta) {
    if (!delta) return 0;
    PyObject *v = PyObject_GetAttrString(obj, name);
    if (!v) return -1;
    PyObject *d = PyLong_FromLongLong(delta), *sum = d ? PyNumber_Add(v, d) : NULL;
    Py_DECREF(v); Py_XDECREF(d);
    if (!sum) return -1;
    int rc = PyObject_SetAttrString(obj, name, sum);
    Py_DECREF(sum);
    return rc;
}

int flush(Scanner *s) {
    if (add_attr(s->res, "lines", s->d_lines) || add_attr(s->res, "outside", s->d_outside)
        || add_attr(s->res, "undated", s->d_undated) || add_attr(s->res, "error_lines", s->d_errors))
        return -1;
    s->d_lines = s->d_outside = s->d_undated = s->d_errors = 0;
    if (s->have_ts) {
        for (int k = 0; k < 2; k++) {
            const char *name = k ? "last_ts" : "first_ts";
            double mine = k ? s->hi_ts : s->lo_ts;
            PyObject *v = PyObject_GetAttrString(s->res, name);
            if (!v) return -1;
            int replace = v == Py_None;
            if (!replace) {
                double have = PyFloat_AsDouble(v);
                if (have == -1.0 && PyErr_Occurred()) { Py_DECREF(v); return -1; }
                replace = k ? mine > have : mine < have;
            }
            Py_DECREF(v);
            if (replace) {
                PyObject *f = PyFloat_FromDouble(mine);
                if (!f || PyObject_SetAttrString(s->res, name, f)) { Py_XDECREF(f); return -1; }
                Py_DECREF(f);
            }
        }
        s->have_ts = 0;
    }
    PyObject *services = PyObject_GetAttrString(s->res, "services");
    if (!services) return -1;
    for (int i = 0; i < s->ncounts; i++) {
        SvcCount *c = &s->counts[i];
        if (!c->recs) continue;
        PyObject *lst = PyDict_GetItemWithError(services, c->svc);
        if (!lst) {
            if (PyErr_Occurred()) { Py_DECREF(services); return -1; }
            lst = Py_BuildValue("[ii]", 0, 0);
            if (!lst || PyDict_SetItem(services, c->svc, lst)) { Py_XDECREF(lst); Py_DECREF(services); return -1; }
            Py_DECREF(lst);
        }
        for (int k = 0; k < 2; k++) {
            PyObject *old = PyList_GetItem(lst, k);
            PyObject *d = old ? PyLong_FromLongLong(k ? c->traced : c->recs) : NULL;
            PyObject *sum = d ? PyNumber_Add(old, d) : NULL;
            Py_XDECREF(d);
            if (!sum || PyList_SetItem(lst, k, sum)) { Py_DECREF(services); return -1; }
        }
        c->recs = c->traced = 0;
    }
    Py_DECREF(services);
    return 0;
}

int account_python(Scanner *s, PyObject *rec) {
    if (flush(s)) return -1;
    PyObject *out = PyObject_CallFunctionObjArgs(s->account, rec, s->res, NULL);
    if (!out) return -1;
    Py_DECREF(out);
    return 0;
}

/* the Python parser's record for a native one (for its message), with the state it had */
PyObject *reparse(Scanner *s, Rec *r) {
    s->reparsed++;
    if (PyObject_SetAttrString(s->parser, "in_traceback", r->tb_before ? Py_True : Py_False)) return NULL;
    PyObject *raw = PyBytes_FromStringAndSize(r->raw, r->rawlen);
    PyObject *tsdef = r->has_tsdef ? PyFloat_FromDouble(r->tsdef) : (Py_INCREF(Py_None), Py_None);
    PyObject *t = raw && tsdef ? PyObject_CallFunctionObjArgs(s->parse, raw, s->service, s->kind, tsdef, NULL) : NULL;
    Py_XDECREF(raw); Py_XDECREF(tsdef);
    if (!t) return NULL;
    PyObject *rec = PyTuple_Check(t) && PyTuple_GET_SIZE(t) == 2 ? PyTuple_GET_ITEM(t, 0) : NULL;
    if (!rec || rec == Py_None) {
        Py_DECREF(t);
        PyErr_SetString(PyExc_RuntimeError, "native scanner: the exact parser found no record where it found one");
        return NULL;
    }
    Py_INCREF(rec);
    Py_DECREF(t);
    if (r->traceback && PyObject_SetAttrString(rec, "traceback", Py_True)) { Py_DECREF(rec); return NULL; }
    return rec;
}

/* the raw line, stripped, as the message (a JSON line without a message field): 0, or -1 not ASCII */
int line_message(Rec *r) {
    const char *t = r->raw; Py_ssize_t n = r->rawlen;
    while (n && is_strip_ws(t[n - 1])) n--;
    while (n && is_strip_ws(t[0])) { t++; n--; }
    for (Py_ssize_t i = 0; i < n; i++) if ((unsigned char)t[i] >= 0x80) return -1;
    return set_msg(r, t, n, 0) ? -2 : 0;
}

/* extract.normalise_message for an ASCII message: ids and numbers become #, 160 characters kept */
Py_ssize_t normalise(const char *m, Py_ssize_t n, char *out) {
    while (n && is_blank(m[n - 1])) n--;
    while (n && is_blank(m[0])) { m++; n--; }
    Py_ssize_t o = 0, i = 0;
    while (i < n && o < 160) {
        Py_ssize_t j = i;
        while (j < n && is_hex((unsigned char)m[j])) j++;
        if (j - i >= 8) {
            for (;;) {
                if (j < n && m[j] == '-') {
                    Py_ssize_t k = j + 1;
                    while (k < n && is_hex((unsigned char)m[k])) k++;
                    if (k - j - 1 >= 4) { j = k; continue; }
                }
                break;
            }
            out[o++] = '#'; i = j; continue;
        }
        if (is_digit(m[i])) {
            j = i;
            while (j < n && is_digit(m[j])) j++;
            if (j + 1 < n && m[j] == '.' && is_digit(m[j + 1])) { j++; while (j < n && is_digit(m[j])) j++; }
            out[o++] = '#'; i = j; continue;
        }
        out[o++] = m[i++];
    }
    return o;
}

int bump(PyObject *dict, PyObject *key) {
    PyObject *old = PyDict_GetItemWithError(dict, key);
    if (!old && PyErr_Occurred()) return -1;
    PyObject *one = PyLong_FromLong(1), *sum = old ? PyNumber_Add(old, one) : (Py_XINCREF(one), one);
    Py_XDECREF(one);
    if (!sum) return -1;
    int rc = PyDict_SetItem(dict, key, sum);
    Py_DECREF(sum);
    return rc;
}

/* ChunkResult.add_error */
int add_error(Scanner *s, Rec *r, PyObject *trace) {
    s->d_errors++;
    char norm[160];
    Py_ssize_t nn = normalise(r->msg, r->msgn, norm);
    PyObject *text = PyUnicode_FromStringAndSize(norm, nn);
    PyObject *key = text ? PyTuple_Pack(2, r->svc, text) : NULL;
    Py_XDECREF(text);
    if (!key) return -1;
    int has = PyDict_Contains(s->messages, key);
    if (has < 0) { Py_DECREF(key); return -1; }
    if (!has && PyDict_GET_SIZE(s->messages) >= s->max_messages) {
        Py_DECREF(key);
        key = PyTuple_Pack(2, r->svc, s->other_key_text);
        if (!key) return -1;
    }
    int rc = bump(s->messages, key);
    Py_DECREF(key);
    if (rc) return -1;
    if (!trace) return bump(s->untraced, r->svc);
    double ts = r->has_ts ? r->ts : Py_HUGE_VAL;
    PyObject *fresh = PyDict_New();
    if (!fresh) return -1;
    PyObject *by = PyDict_SetDefault(s->first_errors, trace, fresh);
    Py_DECREF(fresh);
    if (!by) return -1;
    PyObject *old = PyDict_GetItemWithError(by, r->svc);
    if (!old && PyErr_Occurred()) return -1;
    if (old) {
        double was = PyFloat_AsDouble(PyTuple_GET_ITEM(old, 0));
        if (was == -1.0 && PyErr_Occurred()) return -1;
        if (!(ts < was)) return 0;
    }
    PyObject *entry = Py_BuildValue("(ds#)", ts, r->msg, r->msgn < 500 ? r->msgn : (Py_ssize_t)500);
    if (!entry) return -1;
    rc = PyDict_SetItem(by, r->svc, entry);
    Py_DECREF(entry);
    return rc;
}

int account_native(Scanner *s, Rec *r) {
    int error = r->level == L_ERROR || r->traceback || (r->has_status && r->status >= 500 && r->status <= 599);
    if (error && r->msg_mode == MSG_LINE) {
        int k = line_message(r);
        if (k == -2) return -1;
        if (k == -1) r->msg_mode = MSG_REPARSE;
    }
    if (error && r->msg_mode == MSG_REPARSE) {
        PyObject *rec = reparse(s, r);
        if (!rec) return -1;
        int rc = account_python(s, rec);
        Py_DECREF(rec);
        return rc;
    }
    if (r->has_ts && ((s->has_since && !(r->ts >= s->since)) || (s->has_until && !(r->ts <= s->until)))) {
        s->d_outside++;
        return 0;
    }
    if (!r->has_ts) s->d_undated++;
    else if (!s->have_ts) { s->have_ts = 1; s->lo_ts = s->hi_ts = r->ts; }
    else { if (r->ts < s->lo_ts) s->lo_ts = r->ts; if (r->ts > s->hi_ts) s->hi_ts = r->ts; }
    s->d_lines++;
    SvcCount *c = count_of(s, r->svc);
    if (!c) { PyErr_SetString(PyExc_RuntimeError, "native scanner: too many services"); return -1; }
    c->recs++;
    if (!r->nids) return error ? add_error(s, r, NULL) : 0;
    c->traced++;
    if (!c->bit) {
        c->bit = PyObject_CallMethod(s->res, "bit", "O", r->svc);
        if (!c->bit) return -1;
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(c->bit, &overflow);
        c->bitval = (overflow || v <= 0 || v > (1LL << 61)) ? -1 : v;
        if (v == -1 && PyErr_Occurred()) return -1;
    }
    PyObject *key = PyBytes_FromStringAndSize(r->ids + r->idoff[0], r->idlen[0]);
    if (!key) return -1;
    int rc = -1;
    PyObject *old = PyDict_GetItemWithError(s->traces, key);
    if (!old) {
        if (PyErr_Occurred() || PyDict_SetItem(s->traces, key, c->bit)) goto done;
    } else {
        int overflow = 0;
        long long v = c->bitval > 0 ? PyLong_AsLongLongAndOverflow(old, &overflow) : -1;
        if (c->bitval > 0 && !overflow && v >= 0) {
            if ((v & c->bitval) != c->bitval) {
                PyObject *nv = PyLong_FromLongLong(v | c->bitval);
                if (!nv || PyDict_SetItem(s->traces, key, nv)) { Py_XDECREF(nv); goto done; }
                Py_DECREF(nv);
            }
        } else {
            if (PyErr_Occurred()) goto done;
            PyObject *nv = PyNumber_Or(old, c->bit);
            if (!nv || PyDict_SetItem(s->traces, key, nv)) { Py_XDECREF(nv); goto done; }
            Py_DECREF(nv);
        }
    }
    for (int i = 1; i < r->nids; i++) {
        PyObject *alias = PyBytes_FromStringAndSize(r->ids + r->idoff[i], r->idlen[i]);
        if (!alias || !PyDict_SetDefault(s->aliases, alias, key)) { Py_XDECREF(alias); goto done; }
        Py_DECREF(alias);
    }
    if (r->has_ts) {
        PyObject *spans = PyDict_GetItemWithError(s->spans, key);
        if (!spans) {
            if (PyErr_Occurred()) goto done;
            if (PyDict_Size(s->spans) < s->span_sample) {
                spans = PyDict_New();
                if (!spans || PyDict_SetItem(s->spans, key, spans)) { Py_XDECREF(spans); goto done; }
                Py_DECREF(spans);
            }
        }
        if (spans) {
            PyObject *span = PyDict_GetItemWithError(spans, r->svc);
            if (!span) {
                if (PyErr_Occurred()) goto done;
                span = Py_BuildValue("[dd]", r->ts, r->ts);
                if (!span || PyDict_SetItem(spans, r->svc, span)) { Py_XDECREF(span); goto done; }
                Py_DECREF(span);
            } else {
                double lo = PyFloat_AsDouble(PyList_GET_ITEM(span, 0)), hi = PyFloat_AsDouble(PyList_GET_ITEM(span, 1));
                if (PyErr_Occurred()) goto done;
                int k = r->ts < lo ? 0 : r->ts > hi ? 1 : -1;
                if (k >= 0) {
                    PyObject *f = PyFloat_FromDouble(r->ts);
                    if (!f || PyList_SetItem(span, k, f)) goto done;
                }
            }
        }
    }
    rc = error ? add_error(s, r, key) : 0;
done:
    Py_DECREF(key);
    return rc;
}

int account(Scanner *s, Rec *r) {
    if (r->active == 2) return account_python(s, r->py);
    return account_native(s, r);
}

void rec_clear(Rec *r) {
    if (r->active == 2) Py_CLEAR(r->py);
    r->active = 0;
}

int set_traceback(Rec *r) {
    if (r->active == 2) return PyObject_SetAttrString(r->py, "traceback", Py_True);
    r->traceback = 1;
    return 0;
}
