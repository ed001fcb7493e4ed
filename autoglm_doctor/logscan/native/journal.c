#include "native.h"

/* journald entries (`journalctl -o json`): LineParser._journal. The entry's MESSAGE is read as a line
   of its own (JSON, logfmt, a native header...) under the entry's time and service; the entry's
   PRIORITY is the level when the message has none. Anything unusual goes to the per-line parser. */

static const int SYSLOG_LEVEL[8] = {L_ERROR, L_ERROR, L_ERROR, L_ERROR, L_WARNING, L_INFO, L_INFO, L_DEBUG};

/* a top-level str field as _text_field reads it: its decoded length in s->tmp (0: not non-empty text,
   -1: only Python reads it exactly) */
static Py_ssize_t text_field(Scanner *s, Pair *pr) {
    if (!pr || pr->type != J_STR || !pr->vn) return 0;
    return decoded(s, pr);
}

int journal_record(Scanner *s, Rec *r, int depth) {
    if (depth > 0 || s->in_journal) return R_BAIL;
    Pair *msg = NULL, *unit = NULL, *unit2 = NULL, *cname = NULL, *ident = NULL, *stamp = NULL, *prio = NULL;
    for (int i = 0; i < s->npairs; i++) {
        Pair *pr = &s->pairs[i];
        if (pr->depth) continue;
#define KEY(name) (pr->kn == (Py_ssize_t)sizeof(name) - 1 && memcmp(pr->k, name, sizeof(name) - 1) == 0)
        if (KEY("MESSAGE")) msg = pr;
        else if (KEY("_SYSTEMD_UNIT")) unit = pr;
        else if (KEY("UNIT")) unit2 = pr;
        else if (KEY("CONTAINER_NAME")) cname = pr;
        else if (KEY("SYSLOG_IDENTIFIER")) ident = pr;
        else if (KEY("__REALTIME_TIMESTAMP")) stamp = pr;
        else if (KEY("PRIORITY")) prio = pr;
#undef KEY
    }
    /* the level */
    int level = L_NONE;
    if (prio && prio->type != J_NULL && prio->type != J_TRUE && prio->type != J_FALSE) {
        if ((prio->type == J_STR || (prio->type == J_NUM && prio->isint)) && prio->vn == 1 && prio->v[0] >= '0' && prio->v[0] <= '7')
            level = SYSLOG_LEVEL[prio->v[0] - '0'];
        else
            return R_BAIL;  /* int() of anything else: Python decides */
    }
    /* the time: microseconds as ASCII digits */
    int has_ts = 0;
    double ts = 0.0;
    if (stamp && stamp->type == J_STR && stamp->vn) {
        Py_ssize_t n = decoded(s, stamp);
        if (n < 0) return R_BAIL;
        int digits = n > 0 && n <= 19;
        for (Py_ssize_t i = 0; i < n && digits; i++) if (!is_digit(s->tmp[i])) digits = 0;
        if (digits) {
            char num[24];
            memcpy(num, s->tmp, n); num[n] = 0;
            ts = (double)strtoll(num, NULL, 10) / 1e6;
            has_ts = 1;
        }
    }
    /* the service: CONTAINER_NAME, SYSLOG_IDENTIFIER, else the unit less ".service" */
    PyObject *svc = s->service;
    Py_ssize_t n = text_field(s, cname);
    if (!n) n = text_field(s, ident);
    if (!n) {
        n = text_field(s, unit);
        if (!n) n = text_field(s, unit2);
        if (n > 8 && memcmp(s->tmp + n - 8, ".service", 8) == 0) n -= 8;
        else if (n == 8 && memcmp(s->tmp, ".service", 8) == 0) n = 0;
    }
    if (n < 0) return R_BAIL;
    if (n) {
        svc = intern_service(s, s->tmp, n);
        if (!svc) return R_BAIL;
    }
    /* the message, decoded: ASCII only */
    Py_ssize_t mn = 0;
    if (msg) {
        if (msg->type != J_STR || !msg->ascii) return R_BAIL;
        if (reserve(&s->jbuf, &s->jcap, msg->vn + 1)) return R_FAIL;
        if ((mn = json_unescape(msg->v, msg->vn, s->jbuf)) < 0) return R_BAIL;
    }
    s->in_tb = 0;
    s->in_journal = 1;
    int kind = parse_line(s, r, s->jbuf ? s->jbuf : "", mn, has_ts, ts);
    s->in_journal = 0;
    if (kind == R_BAIL || kind == R_FAIL) return kind;
    if (kind == R_SKIP || r->cont) {  /* an empty message or a traceback line: the entry itself */
        r->svc = svc; r->nids = 0; r->idused = 0; r->level = level; r->has_ts = has_ts; r->ts = ts;
        r->has_status = 0; r->cont = 0; r->traceback = 0;
        if (set_msg(r, s->jbuf ? s->jbuf : "", mn, 0)) return R_FAIL;
        /* the entry's MESSAGE as it is: a carriage return or other control character in it is whitespace
           to Python's strip() when the message is normalised - Python says how */
        for (Py_ssize_t i = 0; i < mn; i++)
            if ((unsigned char)s->jbuf[i] < 0x20 && s->jbuf[i] != '\t') { r->msg_mode = MSG_REPARSE; break; }
        return R_REC;
    }
    if (r->svc == s->service) r->svc = svc;
    if (r->level == L_NONE) r->level = level;
    if (r->msg_mode == MSG_LINE) r->msg_mode = MSG_REPARSE;  /* the message's own line: ask Python */
    return R_REC;
}
