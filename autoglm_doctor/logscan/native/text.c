#include "native.h"

/* a bitmask of the bytes p[0:16] that may start a trace pattern (0 t T x X r R c) */
#ifdef __SSE2__
static inline int cand16(const char *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p), low = _mm_or_si128(v, _mm_set1_epi8(0x20));
    __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('0')), _mm_cmpeq_epi8(low, _mm_set1_epi8('t')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(low, _mm_set1_epi8('x')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(low, _mm_set1_epi8('r')));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('c')));
    return _mm_movemask_epi8(m);
}
#endif

/* ---- text -------------------------------------------------------------------------------- */
static const char *LEVEL_WORDS[] = {"TRACE", "DEBUG", "INFO", "NOTICE", "WARN", "WARNING", "ERROR", "ERR",
                                    "CRITICAL", "FATAL", "PANIC", NULL};

static int level_word(const char *t, Py_ssize_t n, int ci) {  /* 1 when t[0:n] is a LEVELS word */
    for (int i = 0; LEVEL_WORDS[i]; i++) {
        if ((Py_ssize_t)strlen(LEVEL_WORDS[i]) != n) continue;
        Py_ssize_t j = 0;
        while (j < n && (ci ? low((unsigned char)t[j]) == low((unsigned char)LEVEL_WORDS[i][j]) : t[j] == LEVEL_WORDS[i][j])) j++;
        if (j == n) return 1;
    }
    return 0;
}

int exception_line(const char *t, Py_ssize_t n) {
    Py_ssize_t j = 0;
    while (j < n && (is_word(t[j]) || t[j] == '.')) j++;
    if (j == 0) return 0;
    if (j < n && !(t[j] == ':' && j + 1 < n && is_blank(t[j + 1]))) return 0;
    Py_ssize_t seg = 0;
    for (Py_ssize_t i = 0; i <= j; i++) {
        if (i == j || t[i] == '.') {
            if (i == seg || !(t[seg] == '_' || (low(t[seg]) >= 'a' && low(t[seg]) <= 'z'))) return 0;
            seg = i + 1;
        }
    }
    static const char *suffixes[] = {"Error", "Exception", "Exit", "Interrupt", "Warning", NULL};
    Py_ssize_t last = j;
    while (last > 0 && t[last - 1] != '.') last--;
    for (int i = 0; suffixes[i]; i++) {
        Py_ssize_t m = (Py_ssize_t)strlen(suffixes[i]);
        if (j - last > m && memcmp(t + j - m, suffixes[i], m) == 0) return 1;
    }
    return 0;
}

/* the id run of [class]{8,64} at p: its length (<= 64), 0 when shorter than 8 */
Py_ssize_t id_run(const char *t, Py_ssize_t n, Py_ssize_t p, int dots, int underscore) {
    Py_ssize_t q = p;
    while (q < n && q - p < 64) {
        unsigned char c = t[q];
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'
            || (underscore && c == '_') || (dots && c == '.'))
            q++;
        else
            break;
    }
    return q - p >= 8 ? q - p : 0;
}

/* [_sep]? id ["']? \s* [=:] \s* ["']? then the id: the id's start, or -1 */
Py_ssize_t key_tail(const char *t, Py_ssize_t n, Py_ssize_t q, const char *seps) {
    if (q < n && strchr(seps, t[q]) && t[q]) q++;
    if (q + 2 > n || low(t[q]) != 'i' || low(t[q + 1]) != 'd') return -1;
    q += 2;
    if (q < n && (t[q] == '"' || t[q] == '\'')) q++;
    while (q < n && is_blank(t[q])) q++;
    if (q >= n || (t[q] != '=' && t[q] != ':')) return -1;
    q++;
    while (q < n && is_blank(t[q])) q++;
    if (q < n && (t[q] == '"' || t[q] == '\'')) q++;
    return q;
}

typedef struct { Py_ssize_t pos, s, n; } Found;

static int cmp_found(const void *a, const void *b, void *t) {
    const Found *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    Py_ssize_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp((const char *)t + x->s, (const char *)t + y->s, m);
    if (c) return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* LineParser._ids with the default patterns */
int text_ids(Rec *r, const char *t, Py_ssize_t n) {
    Found found[64]; int nf = 0;
    Py_ssize_t next[5] = {0, 0, 0, 0, 0};
    const unsigned char *u = (const unsigned char *)t;
    Py_ssize_t block = -1;
    int bits = 0;
    for (Py_ssize_t p = 0; p < n; p++) {
#ifdef __SSE2__
        if (p + 16 <= n) {  /* 16 bytes at a time: the candidates' bits */
            if (p >= block + 16 || block < 0) { block = p; bits = cand16(t + p); }
            int rel = (int)(p - block);
            int left = bits >> rel;
            if (!left) { p = block + 15; continue; }
            p += __builtin_ctz(left);
            if (p >= n) break;
        } else if (!(CLASS[u[p]] & C_CAND)) continue;
#else
        if (!(CLASS[u[p]] & C_CAND)) continue;
#endif
        unsigned char c = u[p];
        if (p > 0 && is_word(u[p - 1])) continue;
        Py_ssize_t g = -1, gn = 0; int k = -1;
        if (c == '0' && p >= next[0] && n - p >= 55 && t[p + 1] == '0' && t[p + 2] == '-' && t[p + 35] == '-' && t[p + 52] == '-'
            && (p + 55 == n || !is_word(t[p + 55]))) {
            int ok = 1;
            for (Py_ssize_t i = 3; i < 55 && ok; i++) if (i != 35 && i != 52 && !is_hexl(t[p + i])) ok = 0;
            if (ok) { k = 0; g = p + 3; gn = 32; next[0] = p + 55; }
        }
        if (k < 0 && low(c) == 't' && p >= next[1] && n - p >= 5 && ci_eq(t + p, "trace", 5)) {
            Py_ssize_t q = key_tail(t, n, p + 5, "_.-");
            if (q >= 0 && (gn = id_run(t, n, q, 0, 1))) { k = 1; g = q; next[1] = q + gn; }
        }
        if (low(c) == 'x' || low(c) == 'r') {
            Py_ssize_t q = -1;
            if (p >= next[2]) {
                if (low(c) == 'x' && n - p >= 9 && (t[p + 1] == '_' || t[p + 1] == '-') && ci_eq(t + p + 2, "request", 7)) q = p + 9;
                else if (n - p >= 7 && ci_eq(t + p, "request", 7)) q = p + 7;
            }
            if (q >= 0) q = key_tail(t, n, q, "_-");
            Py_ssize_t m;
            if (q >= 0 && (m = id_run(t, n, q, 1, 1))) {
                if (nf == 64) return -1;
                found[nf++] = (Found){p, q, m}; next[2] = q + m;
            }
        }
        if (c == 'c' && p >= next[3]) {
            Py_ssize_t q = -1, m;
            if (starts(t + p, n - p, "chatcmpl-")) q = p + 9;
            else if (starts(t + p, n - p, "cmpl-")) q = p + 5;
            if (q >= 0 && (m = id_run(t, n, q, 0, 0))) {
                if (nf == 64) return -1;
                found[nf++] = (Found){p, q, m}; next[3] = q + m;
            }
        }
        if (c == 'r' && p >= next[4] && starts(t + p, n - p, "rid=")) {
            Py_ssize_t q = p + 4, m;
            if (q < n && (t[q] == '\'' || t[q] == '"')) q++;
            if ((m = id_run(t, n, q, 0, 1))) {
                if (nf == 64) return -1;
                found[nf++] = (Found){p, q, m}; next[4] = q + m;
            }
        }
        if (k >= 0) {
            if (nf == 64) return -1;
            found[nf++] = (Found){p, g, gn};
        }
    }
    if (nf > 1) qsort_r(found, nf, sizeof(Found), cmp_found, (void *)t);
    for (int i = 0; i < nf; i++)
        if (add_id(r, t + found[i].s, found[i].n)) return -1;
    return 0;
}

/* LineParser._status: uvicorn's access line */
void text_status(Rec *r, const char *t, Py_ssize_t n) {
    r->has_status = 0;
    if (!memmem(t, n, " HTTP/", 6)) return;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!is_blank(t[i])) continue;
        Py_ssize_t q = i + 1, a = q;
        while (q < n && !is_blank(t[q])) q++;
        if (q == a || n - q < 4 || memcmp(t + q, " - \"", 4) != 0) continue;
        q += 4; a = q;
        while (q < n && t[q] >= 'A' && t[q] <= 'Z') q++;
        if (q == a || q >= n || t[q] != ' ') continue;
        q++; a = q;
        while (q < n && !is_blank(t[q])) q++;
        if (q == a || n - q < 6 || memcmp(t + q, " HTTP/", 6) != 0) continue;
        q += 6; a = q;
        while (q < n && (is_digit(t[q]) || t[q] == '.')) q++;
        if (q == a || n - q < 5 || t[q] != '"' || t[q + 1] != ' ') continue;
        q += 2;
        if (!is_digit(t[q]) || !is_digit(t[q + 1]) || !is_digit(t[q + 2]) || (q + 3 < n && is_word(t[q + 3]))) continue;
        r->status = (t[q] - '0') * 100 + (t[q + 1] - '0') * 10 + (t[q + 2] - '0');
        r->has_status = 1;
        return;
    }
}

int native_tail(Scanner *s, Rec *r, const char *t, Py_ssize_t n) {
    if (!s->default_patterns) return R_BAIL;
    if (text_ids(r, t, n)) return R_BAIL;
    text_status(r, t, n);
    return R_REC;
}

/* LineParser._text */
int parse_text(Scanner *s, Rec *r, const char *t, Py_ssize_t n, int has_tsdef, double tsdef) {
    int lead = is_blank(t[0]);
    if ((lead && n > 1) || starts(t, n, "Traceback (most recent call last):")
        || starts(t, n, "During handling of the above exception") || starts(t, n, "The above exception was the direct cause")
        || (s->in_tb && exception_line(t, n))) {
        if (lead) {  /* [ \t]+\S */
            Py_ssize_t q = 0;
            while (q < n && is_blank(t[q])) q++;
            if (q == n) goto not_continuation;
        }
        int start = starts(t, n, "Traceback (most recent call last):");
        s->in_tb = !exception_line(t, n);
        r->ts = tsdef; r->has_ts = has_tsdef; r->level = L_NONE; r->cont = start ? 2 : 1; r->has_status = 0;
        r->msg_mode = MSG_REPARSE;
        return R_REC;
    }
not_continuation:
    s->in_tb = 0;
    /* vLLM */
    {
        Py_ssize_t p = 0;
        if (t[0] == '(') {
            Py_ssize_t q = 1;
            while (q < n && (is_word(t[q]) || t[q] == '.' || t[q] == '-')) q++;
            if (q > 1 && starts(t + q, n - q, " pid=")) {
                Py_ssize_t d = q + 5, e = d;
                while (e < n && is_digit(t[e])) e++;
                if (e > d && starts(t + e, n - e, ") ")) p = e + 2;
            }
        }
        Py_ssize_t w = p;
        while (w < n && t[w] >= 'A' && t[w] <= 'Z') w++;
        if (w > p && w < n && t[w] == ' ' && level_word(t + p, w - p, 0)) {
            Py_ssize_t d = w + 1;
            const char *x = t + d;
            if (shape(x, n - d, "dd-dd dd:dd:dd")) {
                Py_ssize_t e = fraction_end(t, d + 14, n, ".");
                if (n - e >= 2 && t[e] == ' ' && t[e + 1] == '[') {
                    const char *close = memchr(t + e + 2, ']', n - e - 2);
                    if (close && close + 1 < t + n && close[1] == ' ') {
                        r->level = level_of(t + p, w - p);
                        if (has_tsdef) { r->ts = tsdef; r->has_ts = 1; }
                        else {
                            int k = yearless(s, x, e - d, &r->ts);
                            if (k < 0) return R_FAIL;
                            r->has_ts = k;
                        }
                        if (set_msg(r, close + 2, t + n - close - 2, 1)) return R_FAIL;
                        return native_tail(s, r, t, n);
                    }
                }
            }
        }
    }
    /* SGLang */
    if (t[0] == '[' && n >= 22) {
        const char *x = t + 1;
        if (shape(x, n - 1, "dddd-dd-dd dd:dd:dd")) {
            Py_ssize_t e = fraction_end(t, 20, n, ".");
            Py_ssize_t gend = e;
            for (;;) {  /* (?: [A-Z]+\d+)* */
                Py_ssize_t q = e;
                if (q >= n || t[q] != ' ') break;
                q++;
                Py_ssize_t a = q;
                while (q < n && t[q] >= 'A' && t[q] <= 'Z') q++;
                if (q == a) break;
                a = q;
                while (q < n && is_digit(t[q])) q++;
                if (q == a) break;
                e = q;
            }
            if (n - e >= 2 && t[e] == ']' && t[e + 1] == ' ') {
                Py_ssize_t m = e + 2, w = m;
                while (w < n && is_word(t[w])) w++;
                r->level = (w > m && level_word(t + m, w - m, 1)) ? level_of(t + m, w - m) : L_NONE;
                int k = parse_iso(s, t + 1, gend - 1, 0, &r->ts);
                if (k < 0) return R_FAIL;
                r->has_ts = k;
                if (set_msg(r, t + m, n - m, 1)) return R_FAIL;
                return native_tail(s, r, t, n);
            }
        }
    }
    /* logfmt */
    {
        unsigned char c = t[0];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == '@') {
            Py_ssize_t j = 1;
            while (j < n && (is_word(t[j]) || t[j] == '.' || t[j] == '@' || t[j] == '-')) j++;
            if (j < n && t[j] == '=') {
                int total;
                if (logfmt_pairs(s, t, n, 1, &total)) return R_BAIL;
                r->has_status = 0;
                return fields(s, r, 0, s->npairs, has_tsdef, tsdef, t, n);
            }
        }
    }
    /* a leading time, then key=value pairs or plain text */
    double lts = 0.0; int has_lts = 0; Py_ssize_t used = 0;
    {
        Py_ssize_t lim = n < 64 ? n : 64, p = 0;
        if (lim && t[0] == '[') p = 1;
        const char *x = t + p;
        if (shape(x, lim - p, "dddd-dd-dd?dd:dd:dd")) {
            Py_ssize_t e = fraction_end(t, p + 19, lim, ".,");
            if (e < lim && (t[e] == 'Z' || t[e] == 'z')) e++;
            else if (e < lim && (t[e] == '+' || t[e] == '-') && lim - e >= 5 && is_digit(t[e + 1]) && is_digit(t[e + 2])) {
                if (t[e + 3] == ':' && lim - e >= 6 && is_digit(t[e + 4]) && is_digit(t[e + 5])) e += 6;
                else if (is_digit(t[e + 3]) && is_digit(t[e + 4])) e += 5;
            }
            Py_ssize_t gend = e;
            if (e < lim && t[e] == ']') e++;
            if (e < lim && (is_blank(t[e]) || t[e] == ':')) {
                int k = parse_iso(s, t + p, gend - p, 0, &lts);
                if (k < 0) return R_FAIL;
                has_lts = k; used = e + 1;
            }
        }
    }
    int total;
    if (logfmt_pairs(s, t, n, 0, &total)) return R_BAIL;
    if (total >= 2) {
        int any = 0;
        for (int i = 0; i < s->npairs && !any; i++)
            if (field_mask(s, s->pairs[i].k, s->pairs[i].kn) & (F_LVL | F_MSG | F_ID)) any = 1;
        if (any) {
            r->has_status = 0;
            return fields(s, r, 0, s->npairs, has_lts || has_tsdef, has_lts ? lts : tsdef, t, n);
        }
    }
    {
        const char *rest = t + used;
        Py_ssize_t rn = n - used, lim = rn < 120 ? rn : 120, at = -1;
        r->level = L_NONE;
        for (Py_ssize_t p = 0; p < lim; p++) {
            if (!is_word(rest[p]) || (p > 0 && is_word(rest[p - 1]))) continue;
            Py_ssize_t w = p;
            while (w < lim && is_word(rest[w])) w++;
            if (level_word(rest + p, w - p, 1)) { r->level = level_of(rest + p, w - p); at = p; break; }
            p = w;
        }
        /* the message: rest.strip(), less PLAIN_HEADER when the level word starts it */
        const char *m = rest; Py_ssize_t mn = rn;
        while (mn && is_blank(m[mn - 1])) mn--;
        while (mn && is_blank(m[0])) { m++; mn--; }
        Py_ssize_t q = 0;
        if (at == 0) {
            Py_ssize_t w = 0;
            while (w < mn && is_word(m[w])) w++;
            if (w && level_word(m, w, 0)) {
                q = w;
                if (q < mn && m[q] == ':') q++;
                while (q < mn && is_blank(m[q])) q++;
                const char *x = m + q;
                if (shape(x, mn - q, "dd-dd dd:dd:dd")) {
                    Py_ssize_t e = fraction_end(m, q + 14, mn, ".,");
                    if (e < mn && is_blank(m[e])) { while (e < mn && is_blank(m[e])) e++; q = e; }
                }
                if (q < mn && m[q] == '[') {
                    Py_ssize_t k = q + 1;
                    while (k < mn && m[k] != ']' && !is_blank(m[k])) k++;
                    if (k > q + 1 && k < mn && m[k] == ']') { q = k + 1; while (q < mn && is_blank(m[q])) q++; }
                }
            }
        }
        if (q >= mn) q = 0;  /* an empty message: rest.strip() */
        if (set_msg(r, m + q, mn - q, 0)) return R_FAIL;
    }
    if (has_lts) { r->ts = lts; r->has_ts = 1; }
    else { r->ts = tsdef; r->has_ts = has_tsdef; }
    return native_tail(s, r, t, n);
}
