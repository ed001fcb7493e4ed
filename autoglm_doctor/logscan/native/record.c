#include "native.h"

/* LineParser._object for a line's JSON in s->pairs */

int docker_record(Scanner *s, Rec *r, Pair *log, Pair *time) {
    double ts = 0.0; int has_ts = 0;
    if (time->type == J_STR) {
        Py_ssize_t n = decoded(s, time);
        if (n < 0) return R_BAIL;
        has_ts = parse_ts_str(s, s->tmp, n, 1, &ts);
        if (has_ts < 0) return R_FAIL;
    } else if (time->type == J_NUM) {
        char num[72];
        if (time->vn > 64) return R_BAIL;
        memcpy(num, time->v, time->vn); num[time->vn] = 0;
        ts = epoch_of(strtod(num, NULL), &has_ts);
    }
    if (!log->ascii) return R_BAIL;
    if (reserve(&s->buf, &s->bufcap, log->vn + 1)) return R_FAIL;
    Py_ssize_t o = json_unescape(log->v, log->vn, s->buf);
    if (o < 0) return R_BAIL;
    while (o && (s->buf[o - 1] == '\n' || s->buf[o - 1] == '\r')) o--;
    if (first_not_text(s->buf, o) != o) return R_BAIL;
    Py_ssize_t q = 0;
    while (q < o && is_blank(s->buf[q])) q++;
    if (q == o) return R_SKIP;
    if (s->buf[0] == '{') {
        if (json_line(s, s->buf, o)) return R_BAIL;
        return object_record(s, r, has_ts, ts, 1, s->buf, o);
    }
    return parse_text(s, r, s->buf, o, has_ts, ts);
}

int object_record(Scanner *s, Rec *r, int has_tsdef, double tsdef, int depth, const char *text, Py_ssize_t tn) {
    Pair *log = NULL, *stream = NULL, *time = NULL;
    for (int i = 0; i < s->npairs; i++) {
        Pair *pr = &s->pairs[i];
        if (pr->depth) continue;
        if ((pr->kn == 20 && memcmp(pr->k, "__REALTIME_TIMESTAMP", 20) == 0) || (pr->kn == 8 && memcmp(pr->k, "__CURSOR", 8) == 0))
            return journal_record(s, r, depth);
    }
    if (s->top_keys <= 4) {  /* dockerd's json-file record: {"log": ..., "stream": ..., "time": ...} */
        for (int i = 0; i < s->npairs; i++) {
            Pair *pr = &s->pairs[i];
            if (pr->depth) continue;
            if (pr->kn == 3 && memcmp(pr->k, "log", 3) == 0) log = pr;
            else if (pr->kn == 6 && memcmp(pr->k, "stream", 6) == 0) stream = pr;
            else if (pr->kn == 4 && memcmp(pr->k, "time", 4) == 0) time = pr;
        }
        if (log && stream && time && log->type == J_STR && !has_tsdef) {  /* with a default time: plain fields */
            if (depth > 0) return R_BAIL;
            return docker_record(s, r, log, time);
        }
    }
    s->in_tb = 0;
    return fields(s, r, 0, s->npairs, has_tsdef, tsdef, text, tn);
}

/* one raw line: R_SKIP (blank), R_REC (r filled), R_BAIL (Python reads it), R_FAIL (exception) */
int parse_line(Scanner *s, Rec *r, const char *raw, Py_ssize_t n, int has_tsdef, double tsdef) {
    Py_ssize_t ls = 0, le = n;
    while (ls < n && is_strip_ws(raw[ls])) ls++;
    if (ls == n) return R_SKIP;
    while (le > ls && is_strip_ws(raw[le - 1])) le--;
    for (Py_ssize_t i = 0; i < ls; i++) if (!is_blank(raw[i])) return R_BAIL;
    for (Py_ssize_t i = le; i < n; i++) if (!is_blank(raw[i]) && raw[i] != '\r') return R_BAIL;
    if (le - ls > MAX_LINE) return R_BAIL;
    r->svc = s->service; r->nids = 0; r->idused = 0; r->cont = 0; r->traceback = 0; r->msg_mode = MSG_REPARSE;
    r->level = L_NONE; r->has_ts = 0; r->has_status = 0;
    if (raw[ls] == '{') {
        if (json_line(s, raw + ls, le - ls)) return R_BAIL;
        return object_record(s, r, has_tsdef, tsdef, 0, NULL, 0);
    }
    if (first_not_text(raw + ls, le - ls) != le - ls) return R_BAIL;
    if (ls > 0) return parse_text(s, r, raw, le, has_tsdef, tsdef);
    return parse_text(s, r, raw + ls, le - ls, has_tsdef, tsdef);
}

/* scan.DOCKER_TS: the time `docker logs --timestamps` puts before a line; its length (0: none) */
Py_ssize_t docker_prefix(Scanner *s, const char *raw, Py_ssize_t n, int *has_ts, double *ts) {
    const char *x = raw;
    *has_ts = 0;
    if (!shape(x, n, "dddd-dd-ddTdd:dd:dd")) return 0;
    Py_ssize_t e = fraction_end(x, 19, n, ".");
    if (e < n && x[e] == 'Z') e++;
    else if (n - e >= 6 && (x[e] == '+' || x[e] == '-') && is_digit(x[e + 1]) && is_digit(x[e + 2]) && x[e + 3] == ':'
             && is_digit(x[e + 4]) && is_digit(x[e + 5])) e += 6;
    else return 0;
    if (e >= n || x[e] != ' ') return 0;
    int k = parse_ts_str(s, x, e, 1, ts);
    if (k < 0) return -1;
    *has_ts = k;
    return e + 1;
}
