#include "native.h"

/* ---- fields ------------------------------------------------------------------------------ */
int field_add(Scanner *s, const char *k, Py_ssize_t n, int mask) {
    unsigned long h = hash_bytes(k, n) % FIELDTAB;
    for (int i = 0; i < FIELDTAB; i++) {
        FieldSlot *f = &s->fields[(h + i) % FIELDTAB];
        if (!f->key) {
            f->key = PyMem_Malloc(n + 1);
            if (!f->key) return -1;
            memcpy(f->key, k, n); f->n = n; f->mask = mask;
            return 0;
        }
        if (f->n == n && memcmp(f->key, k, n) == 0) { f->mask |= mask; return 0; }
    }
    return -1;
}

/* ---- records ----------------------------------------------------------------------------- */
int level_of(const char *t, Py_ssize_t n) {
    while (n && is_blank(t[n - 1])) n--;
    while (n && is_blank(t[0])) { t++; n--; }
    if ((n >= 3 && ci_eq(t, "err", 3)) || (n >= 5 && ci_eq(t, "fatal", 5)) || (n >= 4 && ci_eq(t, "crit", 4))
        || (n >= 5 && ci_eq(t, "panic", 5)) || (n >= 5 && ci_eq(t, "emerg", 5)) || (n >= 5 && ci_eq(t, "alert", 5)))
        return L_ERROR;
    if (n >= 4 && ci_eq(t, "warn", 4)) return L_WARNING;
    if ((n >= 4 && ci_eq(t, "info", 4)) || (n >= 6 && ci_eq(t, "notice", 6))) return L_INFO;
    if ((n >= 5 && ci_eq(t, "debug", 5)) || (n >= 5 && ci_eq(t, "trace", 5))) return L_DEBUG;
    return L_NONE;
}

/* ids.canonical, then added once: 0 ok, -1 no room */
int add_id(Rec *r, const char *t, Py_ssize_t n) {
    while (n && is_blank(t[n - 1])) n--;
    while (n && is_blank(t[0])) { t++; n--; }
    if (n == 55 && t[0] == '0' && t[1] == '0' && t[2] == '-' && t[35] == '-' && t[52] == '-') {
        int ok = 1;
        for (int i = 3; i < 55 && ok; i++) if (i != 35 && i != 52 && !is_hex(t[i])) ok = 0;
        if (ok) { t += 3; n = 32; }
    } else if (n >= 9 && memcmp(t, "chatcmpl-", 9) == 0 && n > 9) { t += 9; n -= 9; }
    else if (n > 5 && memcmp(t, "cmpl-", 5) == 0) { t += 5; n -= 5; }
    if (!n) return 0;
    if (r->nids == MAXIDS || r->idused + n > IDBUF) return -1;
    char *dst = r->ids + r->idused;
    for (Py_ssize_t i = 0; i < n; i++) dst[i] = (char)low((unsigned char)t[i]);
    for (int i = 0; i < r->nids; i++)
        if (r->idlen[i] == n && memcmp(r->ids + r->idoff[i], dst, n) == 0) return 0;
    r->idoff[r->nids] = r->idused; r->idlen[r->nids] = (int)n; r->nids++; r->idused += (int)n;
    return 0;
}

int set_msg(Rec *r, const char *t, Py_ssize_t n, int strip) {
    if (strip) {
        while (n && is_blank(t[n - 1])) n--;
        while (n && is_blank(t[0])) { t++; n--; }
    }
    if (r->msgcap < n + 1) {
        Py_ssize_t cap = n + 256;
        char *nb = PyMem_Realloc(r->msg, cap);
        if (!nb) { PyErr_NoMemory(); return -1; }
        r->msg = nb; r->msgcap = cap;
    }
    memcpy(r->msg, t, n); r->msgn = n; r->msg_mode = MSG_BUF;
    return 0;
}

/* a wanted str value, decoded into s->tmp: its length, or -1 when only Python reads it exactly */
Py_ssize_t decoded(Scanner *s, Pair *pr) {
    if (!pr->ascii) return -1;
    Py_ssize_t o = 0;
    const char *v = pr->v, *e = pr->v + pr->vn;
    if (pr->vn > (Py_ssize_t)sizeof s->tmp) return -1;
    if (pr->quoted) {  /* logfmt: v[1:-1].replace('\\"', '"') */
        for (const char *q = v; q < e; q++) {
            if (*q == '\\' && q + 1 < e && q[1] == '"') { s->tmp[o++] = '"'; q++; }
            else s->tmp[o++] = *q;
        }
    } else if (!pr->esc) {
        memcpy(s->tmp, v, pr->vn); o = pr->vn;
    } else if ((o = json_unescape(v, pr->vn, s->tmp)) < 0) {
        return -1;
    }
    return first_not_text(s->tmp, o) == o ? o : -1;  /* control characters: Python's strip() differs */
}

PyObject *intern_service(Scanner *s, const char *t, Py_ssize_t n) {
    for (int i = 0; i < s->nnames; i++)
        if (s->name_len[i] == n && memcmp(s->names[i], t, n) == 0) return s->name_obj[i];
    if (s->nnames == MAXSVC) return NULL;
    char *copy = PyMem_Malloc(n + 1);
    PyObject *obj = PyUnicode_FromStringAndSize(t, n);
    if (!copy || !obj) { PyMem_Free(copy); Py_XDECREF(obj); PyErr_Clear(); return NULL; }
    memcpy(copy, t, n);
    s->names[s->nnames] = copy; s->name_len[s->nnames] = n; s->name_obj[s->nnames] = obj;
    return s->name_obj[s->nnames++];
}

/* LineParser._fields over s->pairs[from..to) (type J_OBJ entries are skipped) */
int fields(Scanner *s, Rec *r, int from, int to, int has_tsdef, double tsdef, const char *text, Py_ssize_t tn) {
    int svc_set = 0, msg_set = 0;
    r->has_ts = 0; r->has_status = 0; r->level = L_NONE;
    for (int i = from; i < to; i++) {
        Pair *pr = &s->pairs[i];
        if (pr->type == J_OBJ) continue;
        int mask = field_mask(s, pr->k, pr->kn);
        if (!mask) continue;
        int str = pr->type == J_STR;
        if ((mask & F_ID) && str && pr->vn) {
            Py_ssize_t n = decoded(s, pr);
            if (n < 0 || add_id(r, s->tmp, n)) return R_BAIL;
        } else if ((mask & F_SVC) && !svc_set && str && pr->vn) {
            Py_ssize_t n = decoded(s, pr);
            if (n < 0) return R_BAIL;
            PyObject *name = intern_service(s, s->tmp, n);
            if (!name) return R_BAIL;
            r->svc = name; svc_set = 1;
        } else if ((mask & F_LVL) && r->level == L_NONE) {
            if (mask & F_PRIO) return R_BAIL;
            if (str) {
                Py_ssize_t n = decoded(s, pr);
                if (n < 0) return R_BAIL;
                r->level = level_of(s->tmp, n);
            }
        } else if ((mask & F_TIME) && !r->has_ts) {
            if (str) {
                Py_ssize_t n = decoded(s, pr);
                if (n < 0) return R_BAIL;
                int k = parse_ts_str(s, s->tmp, n, 0, &r->ts);
                if (k < 0) return R_FAIL;
                r->has_ts = k;
            } else if (pr->type == J_NUM) {
                char num[72];
                if (pr->vn > 64) return R_BAIL;
                memcpy(num, pr->v, pr->vn); num[pr->vn] = 0;
                r->ts = epoch_of(strtod(num, NULL), &r->has_ts);
            }
        } else if ((mask & F_MSG) && !msg_set && str) {
            msg_set = 1;
            if (pr->esc || !pr->ascii) r->msg_mode = MSG_REPARSE;
            else if (pr->quoted) {
                Py_ssize_t n = decoded(s, pr);
                if (n < 0 || set_msg(r, s->tmp, n, 0)) return n < 0 ? R_BAIL : R_FAIL;
            } else if (set_msg(r, pr->v, pr->vn, 0)) return R_FAIL;
        } else if ((mask & F_STATUS) && !r->has_status) {
            if (pr->type == J_NUM && pr->isint) {
                if (pr->vn > 18) return R_BAIL;
                char num[24];
                memcpy(num, pr->v, pr->vn); num[pr->vn] = 0;
                r->status = strtoll(num, NULL, 10); r->has_status = 1;
            } else if (str) {
                Py_ssize_t n = decoded(s, pr);
                if (n < 0) return R_BAIL;
                if (n == 3 && is_digit(s->tmp[0]) && is_digit(s->tmp[1]) && is_digit(s->tmp[2])) {
                    r->status = (s->tmp[0] - '0') * 100 + (s->tmp[1] - '0') * 10 + (s->tmp[2] - '0');
                    r->has_status = 1;
                }
            }
        }
    }
    if (!r->has_ts && has_tsdef) { r->ts = tsdef; r->has_ts = 1; }
    if (!msg_set) {
        if (text) { if (set_msg(r, text, tn, 0)) return R_FAIL; }
        else r->msg_mode = MSG_LINE;
    }
    return R_REC;
}

/* logfmt pairs (LOGFMT_PAIR.findall) into s->pairs; wanted_only: only the profile's fields */
int logfmt_pairs(Scanner *s, const char *t, Py_ssize_t n, int wanted_only, int *total) {
    s->npairs = 0; *total = 0;
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = t[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '@')) { i++; continue; }
        Py_ssize_t j = i;
        while (j < n && (is_word(t[j]) || t[j] == '.' || t[j] == '@' || t[j] == '-')) j++;
        if (j >= n || t[j] != '=') { i = j + 1; continue; }
        Pair pr; pr.k = t + i; pr.kn = j - i; pr.type = J_STR; pr.esc = 0; pr.ascii = 1; pr.isint = 0; pr.quoted = 0; pr.depth = 0;
        Py_ssize_t v = j + 1, e = v;
        int quoted = 0;
        if (v < n && t[v] == '"') {
            Py_ssize_t q = v + 1;
            while (q < n) {
                if (t[q] == '"') break;
                if (t[q] == '\\') { if (q + 1 >= n) { q = n; break; } q += 2; continue; }
                q++;
            }
            if (q < n) { quoted = 1; e = q + 1; }
        }
        if (!quoted) while (e < n && !is_blank(t[e]) && t[e] != '"') e++;
        (*total)++;
        if (quoted) { pr.v = t + v + 1; pr.vn = e - v - 2; pr.quoted = 1; }
        else { pr.v = t + v; pr.vn = e - v; }
        if (!wanted_only || field_mask(s, pr.k, pr.kn)) {
            if (s->npairs >= MAXENT) return -1;
            s->pairs[s->npairs++] = pr;
        }
        i = e;
    }
    return 0;
}
