/* The native log scanner: ChunkScanner.scan(data, res, service, "file") in one compiled pass.
 *
 * Every line is read here when its reading is certain to be the one the exact Python parser
 * (extract.py) gives: JSON objects (flat or nested, Docker json-file records wrapping text or JSON),
 * vLLM / SGLang / uvicorn text, logfmt, plain text with the default trace patterns, traceback
 * continuations. Any line outside that (invalid or odd JSON, non-ASCII text, journald entries, a
 * profile's own trace patterns, a syslog PRIORITY, escapes in wanted values, ...) is handed to the
 * Python parser as it is, with the traceback state it would have had. Records are accounted here;
 * an error record is read again by the Python parser (for its message) and accounted in Python.
 * Times whose zone or calendar needs Python (the epoch of an hour, a yearless vLLM date) are asked
 * of timeparse once per hour and cached. tests/logscan/test_native.py holds it to the exact parser.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_LINE (1 << 20)
#define MAXIDS 16
#define IDBUF 2048
#define MAXENT 512
#define MAXSVC 256
#define MAXDEPTH 64
#define HOURCACHE 1024
#define FIELDTAB 512

enum { F_ID = 1, F_SVC = 2, F_LVL = 4, F_TIME = 8, F_MSG = 16, F_STATUS = 32, F_PRIO = 64 };
enum { L_NONE = 0, L_ERROR, L_WARNING, L_INFO, L_DEBUG };
enum { R_SKIP = 0, R_REC, R_BAIL, R_FAIL };
enum { J_STR = 1, J_NUM, J_TRUE, J_FALSE, J_NULL, J_ARR, J_OBJ };
enum { V_JSON = 0, V_LOGFMT = 1 };

typedef struct {
    const char *k; Py_ssize_t kn;
    const char *v; Py_ssize_t vn;
    int type, esc, ascii, isint, quoted, depth;
} Pair;

typedef struct {
    int active; /* 0 none, 1 native, 2 python */
    PyObject *py;
    double ts; int has_ts;
    PyObject *svc; /* borrowed: the call's service or an interned service name */
    int level;
    long long status; int has_status;
    int cont, traceback, tb_before;
    int nids; int idoff[MAXIDS]; int idlen[MAXIDS]; int idused;
    char ids[IDBUF];
    const char *raw; Py_ssize_t rawlen;
    int msg_mode;   /* MSG_BUF: msg holds it; MSG_LINE: the stripped raw line; MSG_REPARSE: ask Python */
    char *msg; Py_ssize_t msgn, msgcap;
} Rec;
enum { MSG_BUF = 0, MSG_LINE, MSG_REPARSE };

typedef struct { char key[24]; int used; int ok; double val; } HourSlot;
typedef struct { char *key; Py_ssize_t n; int mask; } FieldSlot;
typedef struct { PyObject *svc; long long recs, traced; PyObject *bit; long long bitval; } SvcCount;

typedef struct {
    PyObject_HEAD
    PyObject *chunk_scanner, *parser, *parse, *account;
    PyObject *tz, *utc, *iso_hour, *hour_base, *parse_iso_py, *parse_ts_py;
    PyObject *kind_file;
    FieldSlot fields[FIELDTAB];
    int default_patterns;
    int has_since, has_until; double since, until;
    long span_sample;
    HourSlot hours[HOURCACHE];
    HourSlot last_hour;  /* consecutive lines share their hour */
    HourSlot ydays[HOURCACHE];
    long long yref_hour; int yref_valid;
    char *names[MAXSVC]; Py_ssize_t name_len[MAXSVC]; PyObject *name_obj[MAXSVC]; int nnames;
    /* per call */
    PyObject *res, *traces, *aliases, *spans, *problems, *service;
    SvcCount counts[MAXSVC]; int ncounts;
    long long d_lines, d_outside, d_undated;
    int have_ts; double lo_ts, hi_ts;
    int in_tb;
    double ref;
    /* per line */
    Pair pairs[MAXENT]; int npairs; int top_dict; int top_keys; int pair_overflow;
    char *buf; Py_ssize_t bufcap;   /* unescaped docker log line */
    char tmp[4096];                 /* one decoded wanted value */
    long long fallbacks, reparsed;
    Rec slots[2];
    PyObject *messages, *untraced, *first_errors, *other_key_text;
    long long d_errors;
    long max_messages;
} Scanner;

/* ---- character classes ------------------------------------------------------------------ */
enum { C_WORD = 1, C_TEXT = 2, C_JSPECIAL = 4, C_CAND = 8 };
static unsigned char CLASS[256];

static void init_classes(void) {
    for (int c = 0; c < 256; c++) {
        int k = 0;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') k |= C_WORD;
        if ((c >= 0x20 && c < 0x7f) || c == '\t') k |= C_TEXT;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) k |= C_JSPECIAL;
        if (c == '0' || c == 't' || c == 'T' || c == 'x' || c == 'X' || c == 'r' || c == 'R' || c == 'c') k |= C_CAND;
        CLASS[c] = (unsigned char)k;
    }
}
static inline int is_word(unsigned char c) { return CLASS[c] & C_WORD; }
/* the first byte of p[0:n] that is not printable ASCII or a tab (n when there is none) */
static Py_ssize_t first_not_text(const char *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
#ifdef __SSE2__
    const __m128i lo = _mm_set1_epi8(0x20), del = _mm_set1_epi8(0x7f), tab = _mm_set1_epi8('\t');
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_cmpeq_epi8(v, del));  /* signed: >= 0x80 too */
        int m = _mm_movemask_epi8(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), bad));
        if (m) return i + __builtin_ctz(m);
    }
#endif
    for (; i < n; i++) if (!(CLASS[(unsigned char)p[i]] & C_TEXT)) return i;
    return n;
}

/* the first '"', '\\', control or non-ASCII byte from p (e when there is none) */
static const unsigned char *json_special(const unsigned char *p, const unsigned char *e) {
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), lo = _mm_set1_epi8(0x20);
    for (; e - p >= 16; p += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        int m = _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, q), _mm_cmpeq_epi8(v, bs)), _mm_cmplt_epi8(v, lo)));
        if (m) return p + __builtin_ctz(m);
    }
#endif
    while (p < e && !(CLASS[*p] & C_JSPECIAL)) p++;
    return p;
}

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

static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_hexl(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static inline int is_hex(unsigned char c) { return is_hexl(c) || (c >= 'A' && c <= 'F'); }
static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int is_text(unsigned char c) { return CLASS[c] & C_TEXT; }
static inline unsigned char low(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }
static int ci_eq(const char *a, const char *lit, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) if (low((unsigned char)a[i]) != (unsigned char)lit[i]) return 0;
    return 1;
}
static int starts(const char *t, Py_ssize_t n, const char *lit) {
    Py_ssize_t m = (Py_ssize_t)strlen(lit);
    return n >= m && memcmp(t, lit, m) == 0;
}

/* ---- fields ------------------------------------------------------------------------------ */
static unsigned long hash_bytes(const char *p, Py_ssize_t n) {
    unsigned long h = 1469598103934665603UL;
    for (Py_ssize_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 1099511628211UL; }
    return h;
}
static int field_add(Scanner *s, const char *k, Py_ssize_t n, int mask) {
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
static inline int field_mask(Scanner *s, const char *k, Py_ssize_t n) {
    unsigned long h = hash_bytes(k, n) % FIELDTAB;
    for (int i = 0; i < FIELDTAB; i++) {
        FieldSlot *f = &s->fields[(h + i) % FIELDTAB];
        if (!f->key) return 0;
        if (f->n == n && memcmp(f->key, k, n) == 0) return f->mask;
    }
    return 0;
}

/* ---- times ------------------------------------------------------------------------------- */
static double epoch_of(double number, int *ok) {
    static const double scales[4] = {1.0, 1e3, 1e6, 1e9};
    for (int i = 0; i < 4; i++) {
        double sec = number / scales[i];
        if (1e8 < sec && sec < 1e10) { *ok = 1; return sec; }
    }
    *ok = 0; return 0.0;
}

/* a float (or None) from Python: 1 a time, 0 None, -1 an exception */
static int py_time(PyObject *v, double *out) {
    if (!v) return -1;
    if (v == Py_None) { Py_DECREF(v); return 0; }
    *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    if (*out == -1.0 && PyErr_Occurred()) return -1;
    return 1;
}

static int hour_epoch(Scanner *s, const char *dh, const char *zone, Py_ssize_t zn, int utc, double *out) {
    char key[24];
    memset(key, 0, sizeof key);
    key[0] = utc ? 'u' : 'p';
    memcpy(key + 1, dh, 13);
    memcpy(key + 14, zone, zn);
    if (s->last_hour.used && memcmp(s->last_hour.key, key, 24) == 0) { *out = s->last_hour.val; return s->last_hour.ok; }
    HourSlot *slot = &s->hours[hash_bytes(key, 24) % HOURCACHE];
    if (slot->used && memcmp(slot->key, key, 24) == 0) { s->last_hour = *slot; *out = slot->val; return slot->ok; }
    if (slot->used && memcmp(slot->key, key, 24) == 0) { *out = slot->val; return slot->ok; }
    PyObject *a = PyUnicode_FromStringAndSize(dh, 13), *b = PyUnicode_FromStringAndSize(zone, zn);
    int r = -1;
    if (a && b) r = py_time(PyObject_CallFunctionObjArgs(s->iso_hour, a, b, utc ? s->utc : s->tz, NULL), out);
    Py_XDECREF(a); Py_XDECREF(b);
    if (r < 0) return -1;
    memcpy(slot->key, key, 24); slot->used = 1; slot->ok = r; slot->val = r ? *out : 0.0;
    s->last_hour = *slot;
    return r;
}

/* timeparse.parse_iso: 1 time, 0 None, -1 exception */
static int parse_iso(Scanner *s, const char *t, Py_ssize_t n, int utc, double *out) {
    if (n >= 19 && t[13] == ':' && t[16] == ':' && is_digit(t[14]) && is_digit(t[15]) && is_digit(t[17]) && is_digit(t[18])) {
        Py_ssize_t p = 19, fs = 0, fn = 0;
        if (p < n && (t[p] == '.' || t[p] == ',') && p + 1 < n && is_digit(t[p + 1])) {
            fs = p + 1; p = fs;
            while (p < n && is_digit(t[p])) p++;
            fn = p - fs;
        }
        while (p < n && is_blank(t[p])) p++;
        Py_ssize_t zs = p, zn = 0;
        if (p < n && (t[p] == 'Z' || t[p] == 'z')) zn = 1;
        else if (n - p >= 3 && memcmp(t + p, "UTC", 3) == 0) zn = 3;
        else if (p < n && (t[p] == '+' || t[p] == '-') && n - p >= 3 && is_digit(t[p + 1]) && is_digit(t[p + 2])) {
            zn = 3;
            if (n - p >= 6 && t[p + 3] == ':' && is_digit(t[p + 4]) && is_digit(t[p + 5])) zn = 6;
            else if (n - p >= 5 && is_digit(t[p + 3]) && is_digit(t[p + 4])) zn = 5;
        }
        if (zs + zn != n) return 0;  /* SHIM needs the end of the text there */
        if (!(t[14] < '6' && t[17] < '6')) return 0;
        double base;
        int r = hour_epoch(s, t, t + zs, zn, utc, &base);
        if (r <= 0) return r;
        long long frac = 0;
        for (Py_ssize_t i = 0; i < 6; i++) frac = frac * 10 + (i < fn ? t[fs + i] - '0' : 0);
        long long seconds = (long long)base + (t[14] - '0') * 600 + (t[15] - '0') * 60 + (t[17] - '0') * 10 + (t[18] - '0');
        *out = (double)(seconds * 1000000LL + frac) / 1e6;
        return 1;
    }
    if (n < 16 || t[4] != '-' || t[7] != '-' || !(t[10] == 'T' || t[10] == 't' || t[10] == ' ') || t[13] != ':') return 0;
    PyObject *str = PyUnicode_FromStringAndSize(t, n);
    if (!str) return -1;
    int r = py_time(PyObject_CallFunctionObjArgs(s->parse_iso_py, str, utc ? s->utc : s->tz, NULL), out);
    Py_DECREF(str);
    return r;
}

/* timeparse.parse_timestamp of a str value (decoded, ASCII) */
static int parse_ts_str(Scanner *s, const char *t, Py_ssize_t n, int utc, double *out) {
    if (n == 0 || n > 64) return 0;
    while (n && is_blank(t[n - 1])) n--;
    while (n && is_blank(t[0])) { t++; n--; }
    int dots = 0, digits = 0, other = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t[i] == '.' && !dots) dots = 1;
        else if (is_digit(t[i])) digits++;
        else { other = 1; break; }
    }
    if (!other && digits) {
        char num[80];
        memcpy(num, t, n); num[n] = 0;
        int ok;
        double v = epoch_of(strtod(num, NULL), &ok);
        if (ok) *out = v;
        return ok;
    }
    return parse_iso(s, t, n, utc, out);
}

static int yearless(Scanner *s, const char *t, Py_ssize_t n, double *out) {
    /* t: "MM-DD HH:MM:SS[.f+]" (the regex guarantees the digits) */
    int minute = (t[9] - '0') * 10 + (t[10] - '0'), second = (t[12] - '0') * 10 + (t[13] - '0');
    HourSlot *slot = &s->ydays[hash_bytes(t, 8) % HOURCACHE];
    double base; int ok;
    if (slot->used && memcmp(slot->key, t, 8) == 0) { ok = slot->ok; base = slot->val; }
    else {
        PyObject *a = PyUnicode_FromStringAndSize(t, 8), *h = PyLong_FromLongLong(s->yref_hour);
        ok = -1;
        if (a && h) ok = py_time(PyObject_CallFunctionObjArgs(s->hour_base, a, h, s->tz, NULL), &base);
        Py_XDECREF(a); Py_XDECREF(h);
        if (ok < 0) return -1;
        memset(slot->key, 0, sizeof slot->key);
        memcpy(slot->key, t, 8); slot->used = 1; slot->ok = ok; slot->val = ok ? base : 0.0;
    }
    if (!ok || minute > 59 || second > 59) return 0;
    long long frac = 0;
    for (Py_ssize_t i = 0; i < 6; i++) frac = frac * 10 + (15 + i < n ? t[15 + i] - '0' : 0);
    *out = (double)(((long long)base + minute * 60 + second) * 1000000LL + frac) / 1e6;
    return 1;
}

/* ---- records ----------------------------------------------------------------------------- */
static int level_of(const char *t, Py_ssize_t n) {
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
static int add_id(Rec *r, const char *t, Py_ssize_t n) {
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

static int set_msg(Rec *r, const char *t, Py_ssize_t n, int strip) {
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

/* ---- JSON -------------------------------------------------------------------------------- */
typedef struct { const char *p, *e; } Cur;
static inline void ws(Cur *c) { while (c->p < c->e && (*c->p == ' ' || *c->p == '\t')) c->p++; }

/* a string after its opening quote: 0 ok (c->p after the closing quote), -1 not for us */
static int jstring(Cur *c, int *esc, int *ascii) {
    const unsigned char *p = (const unsigned char *)c->p, *e = (const unsigned char *)c->e;
    *esc = 0; *ascii = 1;
    while (p < e) {
        p = json_special(p, e);
        if (p >= e) break;
        unsigned char ch = *p;
        if (ch == '"') { c->p = (const char *)p + 1; return 0; }
        if (ch == '\\') {
            *esc = 1;
            if (p + 1 >= e) return -1;
            unsigned char x = p[1];
            if (x == 'u') {
                if (p + 5 >= e || !is_hex(p[2]) || !is_hex(p[3]) || !is_hex(p[4]) || !is_hex(p[5])) return -1;
                p += 6;
            } else if (x == '"' || x == '\\' || x == '/' || x == 'b' || x == 'f' || x == 'n' || x == 'r' || x == 't') p += 2;
            else return -1;
            continue;
        }
        if (ch < 0x20) return -1;
        if (ch < 0x80) { p++; continue; }
        *ascii = 0;
        /* strict UTF-8, as Python decodes it */
        int len; unsigned int cp;
        if (ch >= 0xC2 && ch <= 0xDF) { len = 2; cp = ch & 0x1F; }
        else if (ch >= 0xE0 && ch <= 0xEF) { len = 3; cp = ch & 0x0F; }
        else if (ch >= 0xF0 && ch <= 0xF4) { len = 4; cp = ch & 0x07; }
        else return -1;
        if (p + len > e) return -1;
        for (int i = 1; i < len; i++) { if ((p[i] & 0xC0) != 0x80) return -1; cp = (cp << 6) | (p[i] & 0x3F); }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return -1;
        p += len;
    }
    return -1;
}

static int jvalue(Scanner *s, Cur *c, int depth, int collect, Pair *pr);

static int jnumber(Cur *c, int *isint) {
    const char *p = c->p, *e = c->e;
    *isint = 1;
    if (p < e && *p == '-') p++;
    if (p >= e) return -1;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') { while (p < e && is_digit(*p)) p++; }
    else return -1;  /* -Infinity, or not a number */
    if (p < e && *p == '.') {
        *isint = 0; p++;
        if (p >= e || !is_digit(*p)) return -1;
        while (p < e && is_digit(*p)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        *isint = 0; p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (p >= e || !is_digit(*p)) return -1;
        while (p < e && is_digit(*p)) p++;
    }
    c->p = p;
    return 0;
}

/* an object after its '{'; collect: its pairs go to s->pairs (depth 0 = the line's object) */
static int jobject(Scanner *s, Cur *c, int depth, int collect) {
    if (depth > MAXDEPTH) return -1;
    int first = s->npairs;
    ws(c);
    if (c->p < c->e && *c->p == '}') { c->p++; return 0; }
    for (;;) {
        ws(c);
        if (c->p >= c->e || *c->p != '"') return -1;
        c->p++;
        const char *k = c->p; int kesc, kascii;
        if (jstring(c, &kesc, &kascii)) return -1;
        Py_ssize_t kn = c->p - 1 - k;
        if (kesc && collect) return -1;
        ws(c);
        if (c->p >= c->e || *c->p != ':') return -1;
        c->p++;
        ws(c);
        Pair pr; pr.k = k; pr.kn = kn; pr.quoted = 0; pr.depth = depth;
        if (collect) {
            for (int i = first; i < s->npairs; i++)  /* a repeated key: Python keeps one of them */
                if (s->pairs[i].kn == kn && memcmp(s->pairs[i].k, k, kn) == 0) return -1;
        }
        if (c->p < c->e && *c->p == '{' && collect) {
            c->p++;
            if (depth == 0) { s->top_dict = 1; s->top_keys++; }
            /* a marker for the duplicate test of this level; skipped as a value */
            if (s->npairs >= MAXENT) return -1;
            pr.type = J_OBJ; pr.v = NULL; pr.vn = 0; pr.esc = 0; pr.ascii = 1; pr.isint = 0;
            s->pairs[s->npairs++] = pr;
            if (jobject(s, c, depth + 1, 1)) return -1;
        } else {
            if (jvalue(s, c, depth + 1, 0, &pr)) return -1;
            if (collect) {
                if (depth == 0) s->top_keys++;
                if (s->npairs >= MAXENT) return -1;
                s->pairs[s->npairs++] = pr;
            }
        }
        ws(c);
        if (c->p >= c->e) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == '}') { c->p++; break; }
        return -1;
    }
    return 0;
}

static int jarray(Scanner *s, Cur *c, int depth) {
    if (depth > MAXDEPTH) return -1;
    ws(c);
    if (c->p < c->e && *c->p == ']') { c->p++; return 0; }
    for (;;) {
        Pair pr;
        ws(c);
        if (jvalue(s, c, depth + 1, 0, &pr)) return -1;
        ws(c);
        if (c->p >= c->e) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == ']') { c->p++; return 0; }
        return -1;
    }
}

static int jvalue(Scanner *s, Cur *c, int depth, int collect, Pair *pr) {
    (void)collect;
    if (c->p >= c->e) return -1;
    char ch = *c->p;
    pr->esc = 0; pr->ascii = 1; pr->isint = 0;
    if (ch == '"') {
        c->p++;
        pr->v = c->p;
        if (jstring(c, &pr->esc, &pr->ascii)) return -1;
        pr->vn = c->p - 1 - pr->v; pr->type = J_STR;
        return 0;
    }
    pr->v = c->p;
    if (ch == '{') { c->p++; pr->type = J_OBJ; if (jobject(s, c, depth, 0)) return -1; }
    else if (ch == '[') { c->p++; pr->type = J_ARR; if (jarray(s, c, depth)) return -1; }
    else if (ch == 't' && c->e - c->p >= 4 && memcmp(c->p, "true", 4) == 0) { c->p += 4; pr->type = J_TRUE; }
    else if (ch == 'f' && c->e - c->p >= 5 && memcmp(c->p, "false", 5) == 0) { c->p += 5; pr->type = J_FALSE; }
    else if (ch == 'n' && c->e - c->p >= 4 && memcmp(c->p, "null", 4) == 0) { c->p += 4; pr->type = J_NULL; }
    else { if (jnumber(c, &pr->isint)) return -1; pr->type = J_NUM; }
    pr->vn = c->p - pr->v;
    return 0;
}

/* the whole text is one object: 0 ok, -1 not for us */
static int json_line(Scanner *s, const char *p, Py_ssize_t n) {
    Cur c = {p, p + n};
    s->npairs = 0; s->top_dict = 0; s->top_keys = 0;
    ws(&c);
    if (c.p >= c.e || *c.p != '{') return -1;
    c.p++;
    if (jobject(s, &c, 0, 1)) return -1;
    ws(&c);
    return c.p == c.e ? 0 : -1;
}

/* a wanted str value, decoded into s->tmp: its length, or -1 when only Python reads it exactly */
static Py_ssize_t decoded(Scanner *s, Pair *pr) {
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
    } else {
        for (const char *q = v; q < e; q++) {
            if (*q != '\\') { s->tmp[o++] = *q; continue; }
            q++;
            char x = *q;
            if (x == 'u') {
                unsigned int cp = (unsigned int)strtoul((char[5]){q[1], q[2], q[3], q[4], 0}, NULL, 16);
                if (cp >= 0x7f || cp < 0x20) { if (cp != '\t') return -1; }
                s->tmp[o++] = (char)cp; q += 4;
            } else if (x == 'b' || x == 'f' || x == 'n' || x == 'r') return -1;
            else s->tmp[o++] = x == 't' ? '\t' : x;
        }
    }
    for (Py_ssize_t i = 0; i < o; i++) if (!is_text((unsigned char)s->tmp[i])) return -1;
    return o;
}

static PyObject *intern_service(Scanner *s, const char *t, Py_ssize_t n) {
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
static int fields(Scanner *s, Rec *r, int from, int to, int has_tsdef, double tsdef, const char *text, Py_ssize_t tn) {
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

static int exception_line(const char *t, Py_ssize_t n) {
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
static Py_ssize_t id_run(const char *t, Py_ssize_t n, Py_ssize_t p, int dots, int underscore) {
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
static Py_ssize_t key_tail(const char *t, Py_ssize_t n, Py_ssize_t q, const char *seps) {
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
static int text_ids(Scanner *s, Rec *r, const char *t, Py_ssize_t n) {
    (void)s;
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
static void text_status(Rec *r, const char *t, Py_ssize_t n) {
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

/* logfmt pairs (LOGFMT_PAIR.findall) into s->pairs; wanted_only: only the profile's fields */
static int logfmt_pairs(Scanner *s, const char *t, Py_ssize_t n, int wanted_only, int *total) {
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

static int native_tail(Scanner *s, Rec *r, const char *t, Py_ssize_t n) {
    if (!s->default_patterns) return R_BAIL;
    if (text_ids(s, r, t, n)) return R_BAIL;
    text_status(r, t, n);
    return R_REC;
}

/* LineParser._text */
static int parse_text(Scanner *s, Rec *r, const char *t, Py_ssize_t n, int has_tsdef, double tsdef) {
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
            if (n - d >= 14 && is_digit(x[0]) && is_digit(x[1]) && x[2] == '-' && is_digit(x[3]) && is_digit(x[4]) && x[5] == ' '
                && is_digit(x[6]) && is_digit(x[7]) && x[8] == ':' && is_digit(x[9]) && is_digit(x[10]) && x[11] == ':'
                && is_digit(x[12]) && is_digit(x[13])) {
                Py_ssize_t e = d + 14;
                if (e + 1 < n && t[e] == '.' && is_digit(t[e + 1])) { e++; while (e < n && is_digit(t[e])) e++; }
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
        if (is_digit(x[0]) && is_digit(x[1]) && is_digit(x[2]) && is_digit(x[3]) && x[4] == '-' && is_digit(x[5]) && is_digit(x[6])
            && x[7] == '-' && is_digit(x[8]) && is_digit(x[9]) && x[10] == ' ' && is_digit(x[11]) && is_digit(x[12]) && x[13] == ':'
            && is_digit(x[14]) && is_digit(x[15]) && x[16] == ':' && is_digit(x[17]) && is_digit(x[18])) {
            Py_ssize_t e = 20;
            if (e + 1 < n && t[e] == '.' && is_digit(t[e + 1])) { e++; while (e < n && is_digit(t[e])) e++; }
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
        if (lim - p >= 19 && is_digit(x[0]) && is_digit(x[1]) && is_digit(x[2]) && is_digit(x[3]) && x[4] == '-' && is_digit(x[5])
            && is_digit(x[6]) && x[7] == '-' && is_digit(x[8]) && is_digit(x[9]) && (x[10] == 'T' || x[10] == ' ') && is_digit(x[11])
            && is_digit(x[12]) && x[13] == ':' && is_digit(x[14]) && is_digit(x[15]) && x[16] == ':' && is_digit(x[17]) && is_digit(x[18])) {
            Py_ssize_t e = p + 19;
            if (e + 1 < lim && (t[e] == '.' || t[e] == ',') && is_digit(t[e + 1])) { e++; while (e < lim && is_digit(t[e])) e++; }
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
                if (mn - q >= 14 && is_digit(x[0]) && is_digit(x[1]) && x[2] == '-' && is_digit(x[3]) && is_digit(x[4]) && x[5] == ' '
                    && is_digit(x[6]) && is_digit(x[7]) && x[8] == ':' && is_digit(x[9]) && is_digit(x[10]) && x[11] == ':'
                    && is_digit(x[12]) && is_digit(x[13])) {
                    Py_ssize_t e = q + 14;
                    if (e + 1 < mn && (m[e] == '.' || m[e] == ',') && is_digit(m[e + 1])) { e++; while (e < mn && is_digit(m[e])) e++; }
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

/* LineParser._object for a line's JSON in s->pairs */
static int object_record(Scanner *s, Rec *r, int has_tsdef, double tsdef, int depth, const char *text, Py_ssize_t tn);

static int docker_record(Scanner *s, Rec *r, Pair *log, Pair *time) {
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
    if (s->bufcap < log->vn + 1) {
        char *nb = PyMem_Realloc(s->buf, log->vn + 1);
        if (!nb) { PyErr_NoMemory(); return R_FAIL; }
        s->buf = nb; s->bufcap = log->vn + 1;
    }
    Py_ssize_t o = 0;
    const char *v = log->v, *e = log->v + log->vn;
    for (const char *q = v; q < e; q++) {
        if (*q != '\\') {
            const char *bs = memchr(q, '\\', e - q), *stop = bs ? bs : e;
            memcpy(s->buf + o, q, stop - q); o += stop - q; q = stop - 1;
            continue;
        }
        q++;
        char x = *q;
        if (x == 'u') {
            unsigned int cp = (unsigned int)strtoul((char[5]){q[1], q[2], q[3], q[4], 0}, NULL, 16);
            if (cp > 0x7f) return R_BAIL;
            s->buf[o++] = (char)cp; q += 4;
        } else if (x == 'n') s->buf[o++] = '\n';
        else if (x == 'r') s->buf[o++] = '\r';
        else if (x == 't') s->buf[o++] = '\t';
        else if (x == 'b' || x == 'f') return R_BAIL;
        else s->buf[o++] = x;
    }
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

static int object_record(Scanner *s, Rec *r, int has_tsdef, double tsdef, int depth, const char *text, Py_ssize_t tn) {
    Pair *log = NULL, *stream = NULL, *time = NULL;
    for (int i = 0; i < s->npairs; i++) {
        Pair *pr = &s->pairs[i];
        /* top-level keys: those before the first nested pair are all top-level; check each */
        if (pr->kn == 20 && memcmp(pr->k, "__REALTIME_TIMESTAMP", 20) == 0) return R_BAIL;
        if (pr->kn == 8 && memcmp(pr->k, "__CURSOR", 8) == 0) return R_BAIL;
    }
    if (s->top_keys <= 4) {  /* dockerd's json-file record: {"log": ..., "stream": ..., "time": ...} */
        for (int i = 0; i < s->npairs; i++) {
            Pair *pr = &s->pairs[i];
            if (pr->depth) continue;
            if (pr->kn == 3 && memcmp(pr->k, "log", 3) == 0) log = pr;
            else if (pr->kn == 6 && memcmp(pr->k, "stream", 6) == 0) stream = pr;
            else if (pr->kn == 4 && memcmp(pr->k, "time", 4) == 0) time = pr;
        }
        if (log && stream && time && log->type == J_STR) {
            if (has_tsdef || depth > 0) return R_BAIL;
            return docker_record(s, r, log, time);
        }
    }
    s->in_tb = 0;
    return fields(s, r, 0, s->npairs, has_tsdef, tsdef, text, tn);
}

/* one raw line: R_SKIP (blank), R_REC (r filled), R_BAIL (Python reads it), R_FAIL (exception) */
static int parse_line(Scanner *s, Rec *r, const char *raw, Py_ssize_t n) {
    Py_ssize_t ls = 0, le = n;
#define STRIPPED(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || (c) == '\x0b' || (c) == '\x0c')
    while (ls < n && STRIPPED(raw[ls])) ls++;
    if (ls == n) return R_SKIP;
    while (le > ls && STRIPPED(raw[le - 1])) le--;
    for (Py_ssize_t i = 0; i < ls; i++) if (!is_blank(raw[i])) return R_BAIL;
    for (Py_ssize_t i = le; i < n; i++) if (!is_blank(raw[i]) && raw[i] != '\r') return R_BAIL;
    if (le - ls > MAX_LINE) return R_BAIL;
    r->svc = s->service; r->nids = 0; r->idused = 0; r->cont = 0; r->traceback = 0; r->msg_mode = MSG_REPARSE;
    r->level = L_NONE; r->has_ts = 0; r->has_status = 0;
    if (raw[ls] == '{') {
        if (json_line(s, raw + ls, le - ls)) return R_BAIL;
        return object_record(s, r, 0, 0.0, 0, NULL, 0);
    }
    if (first_not_text(raw + ls, le - ls) != le - ls) return R_BAIL;
    if (ls > 0) return parse_text(s, r, raw, le, 0, 0.0);
    return parse_text(s, r, raw + ls, le - ls, 0, 0.0);
}

/* ---- accounting ---------------------------------------------------------------------------- */
static SvcCount *count_of(Scanner *s, PyObject *svc) {
    for (int i = 0; i < s->ncounts; i++) if (s->counts[i].svc == svc) return &s->counts[i];
    if (s->ncounts == MAXSVC) return NULL;
    SvcCount *c = &s->counts[s->ncounts++];
    Py_INCREF(svc);
    c->svc = svc; c->recs = 0; c->traced = 0; c->bit = NULL; c->bitval = -1;
    return c;
}

static int add_attr(PyObject *obj, const char *name, long long delta) {
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

static int flush(Scanner *s) {
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

static int account_python(Scanner *s, PyObject *rec) {
    if (flush(s)) return -1;
    PyObject *out = PyObject_CallFunctionObjArgs(s->account, rec, s->res, NULL);
    if (!out) return -1;
    Py_DECREF(out);
    return 0;
}

/* the Python parser's record for a native one (for its message), with the state it had */
static PyObject *reparse(Scanner *s, Rec *r) {
    s->reparsed++;
    if (PyObject_SetAttrString(s->parser, "in_traceback", r->tb_before ? Py_True : Py_False)) return NULL;
    PyObject *raw = PyBytes_FromStringAndSize(r->raw, r->rawlen);
    if (!raw) return NULL;
    PyObject *t = PyObject_CallFunctionObjArgs(s->parse, raw, s->service, s->kind_file, Py_None, NULL);
    Py_DECREF(raw);
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
static int line_message(Rec *r) {
    const char *t = r->raw; Py_ssize_t n = r->rawlen;
#define WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || (c) == '\x0b' || (c) == '\x0c')
    while (n && WS(t[n - 1])) n--;
    while (n && WS(t[0])) { t++; n--; }
#undef WS
    for (Py_ssize_t i = 0; i < n; i++) if ((unsigned char)t[i] >= 0x80) return -1;
    return set_msg(r, t, n, 0) ? -2 : 0;
}

/* extract.normalise_message for an ASCII message: ids and numbers become #, 160 characters kept */
static Py_ssize_t normalise(const char *m, Py_ssize_t n, char *out) {
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

static int bump(PyObject *dict, PyObject *key) {
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
static int add_error(Scanner *s, Rec *r, PyObject *trace) {
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

static int account_native(Scanner *s, Rec *r) {
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

static int account(Scanner *s, Rec *r) {
    if (r->active == 2) return account_python(s, r->py);
    return account_native(s, r);
}

static void rec_clear(Rec *r) {
    if (r->active == 2) Py_CLEAR(r->py);
    r->active = 0;
}

static int set_traceback(Rec *r) {
    if (r->active == 2) return PyObject_SetAttrString(r->py, "traceback", Py_True);
    r->traceback = 1;
    return 0;
}

/* ---- the scan ------------------------------------------------------------------------------ */
static PyObject *call_begin(Scanner *s, PyObject *res, PyObject *service) {
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

static void call_end(Scanner *s) {
    for (int i = 0; i < s->ncounts; i++) { Py_CLEAR(s->counts[i].svc); Py_CLEAR(s->counts[i].bit); }
    s->ncounts = 0;
    Py_CLEAR(s->traces); Py_CLEAR(s->aliases); Py_CLEAR(s->spans); Py_CLEAR(s->problems);
    Py_CLEAR(s->messages); Py_CLEAR(s->untraced); Py_CLEAR(s->first_errors);
    s->res = NULL; s->service = NULL;
}

static int count_problem(Scanner *s, PyObject *problem) {
    PyObject *old = PyDict_GetItemWithError(s->problems, problem);
    if (!old && PyErr_Occurred()) return -1;
    PyObject *one = PyLong_FromLong(1), *sum = old ? PyNumber_Add(old, one) : (Py_XINCREF(one), one);
    Py_XDECREF(one);
    if (!sum) return -1;
    int rc = PyDict_SetItem(s->problems, problem, sum);
    Py_DECREF(sum);
    return rc;
}

static PyObject *Scanner_scan(Scanner *s, PyObject *args) {
    Py_buffer view;
    PyObject *res, *service;
    if (!PyArg_ParseTuple(args, "y*OU", &view, &res, &service)) return NULL;
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
        int tb_before = s->in_tb;
        cur->active = 0;
        int kind = parse_line(s, cur, line, n);
        if (kind == R_FAIL) goto out;
        if (kind == R_BAIL) {
            s->fallbacks++;
            s->in_tb = tb_before;
            if (PyObject_SetAttrString(s->parser, "in_traceback", tb_before ? Py_True : Py_False)) goto out;
            PyObject *raw = PyBytes_FromStringAndSize(line, n);
            PyObject *t = raw ? PyObject_CallFunctionObjArgs(s->parse, raw, service, s->kind_file, Py_None, NULL) : NULL;
            Py_XDECREF(raw);
            if (!t) goto out;
            PyObject *tb = PyObject_GetAttrString(s->parser, "in_traceback");
            if (!tb) { Py_DECREF(t); goto out; }
            s->in_tb = PyObject_IsTrue(tb);
            Py_DECREF(tb);
            PyObject *rec = PyTuple_GET_ITEM(t, 0), *problem = PyTuple_GET_ITEM(t, 1);
            if (problem != Py_None && PyObject_IsTrue(problem) && count_problem(s, problem)) { Py_DECREF(t); goto out; }
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
            cur->active = 1; cur->tb_before = tb_before; cur->raw = line; cur->rawlen = n;
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
static int add_fields(Scanner *s, PyObject *settings, const char *attr, int mask) {
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

static int opt_time(PyObject *settings, const char *attr, int *has, double *out) {
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
    s->parse_ts_py = PyObject_GetAttrString(tp, "parse_timestamp");
    s->kind_file = PyUnicode_FromString("file");
    PyObject *sample = PyObject_GetAttrString(sc, "SPAN_SAMPLE");
    if (!s->utc || !s->iso_hour || !s->hour_base || !s->parse_iso_py || !s->parse_ts_py || !s->kind_file || !sample) { Py_XDECREF(sample); goto done; }
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
    Py_CLEAR(s->parse_iso_py); Py_CLEAR(s->parse_ts_py); Py_CLEAR(s->kind_file); Py_CLEAR(s->other_key_text);
    for (int i = 0; i < s->nnames; i++) Py_CLEAR(s->name_obj[i]);
    return 0;
}

static void Scanner_dealloc(Scanner *s) {
    PyObject_GC_UnTrack(s);
    Scanner_clear(s);
    for (int i = 0; i < FIELDTAB; i++) PyMem_Free(s->fields[i].key);
    for (int i = 0; i < s->nnames; i++) PyMem_Free(s->names[i]);
    PyMem_Free(s->buf);
    PyMem_Free(s->slots[0].msg); PyMem_Free(s->slots[1].msg);
    Py_TYPE(s)->tp_free((PyObject *)s);
}

static PyObject *Scanner_stats(Scanner *s, void *closure) {
    (void)closure;
    return Py_BuildValue("{sLsL}", "fallbacks", s->fallbacks, "reparsed", s->reparsed);
}

/* ---- merging chunk results (Summary.merge) -------------------------------------------------- */
/* merge_traces(traces, incoming, bits, max_traces) -> untracked: incoming's per-trace masks (bit i =
   its service i) ORed into traces under the global bits, new ids only while len(traces) < max_traces. */
static PyObject *merge_traces(PyObject *self, PyObject *args) {
    PyObject *traces, *incoming, *bits;
    Py_ssize_t max_traces;
    if (!PyArg_ParseTuple(args, "O!O!O!n", &PyDict_Type, &traces, &PyDict_Type, &incoming, &PyList_Type, &bits, &max_traces))
        return NULL;
    Py_ssize_t nb = PyList_GET_SIZE(bits);
    unsigned long long gbit[64];
    if (nb > 63) Py_RETURN_NONE;  /* the caller merges in Python */
    int identity = 1;
    for (Py_ssize_t i = 0; i < nb; i++) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(bits, i), &overflow);
        if (overflow || v <= 0 || v > (1LL << 62)) Py_RETURN_NONE;
        gbit[i] = (unsigned long long)v;
        if (gbit[i] != 1ULL << i) identity = 0;
    }
    Py_ssize_t pos = 0, untracked = 0;
    PyObject *key, *mask;
    while (PyDict_Next(incoming, &pos, &key, &mask)) {
        int overflow = 0;
        long long m = PyLong_AsLongLongAndOverflow(mask, &overflow);
        if (overflow || m < 0) { PyErr_SetString(PyExc_ValueError, "merge_traces: a mask out of range"); return NULL; }
        unsigned long long g = 0;
        if (identity) g = (unsigned long long)m;
        else for (Py_ssize_t i = 0; i < nb; i++) if ((unsigned long long)m >> i & 1) g |= gbit[i];
        PyObject *nv, *old;
        if (PyDict_GET_SIZE(traces) < max_traces) {  /* one lookup: a new id takes the mask as it is */
            nv = PyLong_FromUnsignedLongLong(g);
            if (!nv) return NULL;
            old = PyDict_SetDefault(traces, key, nv);
            Py_DECREF(nv);
            if (!old) return NULL;
            if (old == nv) continue;
        } else {
            old = PyDict_GetItemWithError(traces, key);
            if (!old) {
                if (PyErr_Occurred()) return NULL;
                untracked++;
                continue;
            }
        }
        {
            long long o = PyLong_AsLongLongAndOverflow(old, &overflow);
            if (overflow || o < 0) { PyErr_SetString(PyExc_ValueError, "merge_traces: a mask out of range"); return NULL; }
            if (((unsigned long long)o | g) == (unsigned long long)o) continue;
            nv = PyLong_FromUnsignedLongLong((unsigned long long)o | g);
        }
        if (!nv || PyDict_SetItem(traces, key, nv)) { Py_XDECREF(nv); return NULL; }
        Py_DECREF(nv);
    }
    return PyLong_FromSsize_t(untracked);
}

/* merge_aliases(aliases, incoming, max_traces) -> dropped: the first primary of an alias wins */
static PyObject *merge_aliases(PyObject *self, PyObject *args) {
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

static int widen(PyObject *into, PyObject *spans) {
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
static PyObject *merge_spans(PyObject *self, PyObject *args) {
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

static int earliest(PyObject *into, PyObject *errors) {
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

/* fold_aliases(aliases, traces, spans, first_errors): Summary._fold_aliases - an id logged next to
   another is the same request: its masks, spans and first errors go to the id it leads to */
static PyObject *fold_aliases(PyObject *self, PyObject *args) {
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
        PyObject *sp = PyDict_GetItemWithError(spans, alias);
        if (!sp && PyErr_Occurred()) { Py_DECREF(primary); goto fail; }
        if (sp) {
            Py_INCREF(sp);
            PyObject *fresh = PyDict_New();
            PyObject *into = fresh ? PyDict_SetDefault(spans, primary, fresh) : NULL;
            Py_XDECREF(fresh);
            int bad = !into || PyDict_DelItem(spans, alias) || widen(into, sp);
            Py_DECREF(sp);
            if (bad) { Py_DECREF(primary); goto fail; }
        }
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
        PyObject *errors = PyDict_GetItemWithError(first_errors, alias);
        if (!errors && PyErr_Occurred()) { Py_DECREF(primary); goto fail; }
        if (errors) {
            Py_INCREF(errors);
            PyObject *fresh = PyDict_New();
            PyObject *into = fresh ? PyDict_SetDefault(first_errors, primary, fresh) : NULL;
            Py_XDECREF(fresh);
            int bad = !into || PyDict_DelItem(first_errors, alias) || earliest(into, errors);
            Py_DECREF(errors);
            if (bad) { Py_DECREF(primary); goto fail; }
        }
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
static PyObject *pack_traces(PyObject *self, PyObject *args) {
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

/* unpack_traces(packed) -> dict */
static PyObject *unpack_traces(PyObject *self, PyObject *args) {
    Py_buffer b;
    if (!PyArg_ParseTuple(args, "y*", &b)) return NULL;
    PyObject *out = PyDict_New();
    const char *p = b.buf, *e = p + b.len;
    while (out && p < e) {
        uint32_t n; uint64_t m;
        if (e - p < 12) { PyErr_SetString(PyExc_ValueError, "unpack_traces: cut"); Py_CLEAR(out); break; }
        memcpy(&n, p, 4); memcpy(&m, p + 4, 8);
        if ((Py_ssize_t)n > e - p - 12) { PyErr_SetString(PyExc_ValueError, "unpack_traces: cut"); Py_CLEAR(out); break; }
        PyObject *k = PyBytes_FromStringAndSize(p + 12, n), *v = PyLong_FromUnsignedLongLong(m);
        if (!k || !v || PyDict_SetItem(out, k, v)) Py_CLEAR(out);
        Py_XDECREF(k); Py_XDECREF(v);
        p += 12 + n;
    }
    PyBuffer_Release(&b);
    return out;
}

/* merge_packed(traces, packed, bits, max_traces) -> untracked (None: too many services) */
static PyObject *merge_packed(PyObject *self, PyObject *args) {
    PyObject *traces, *bits;
    Py_buffer b;
    Py_ssize_t max_traces;
    if (!PyArg_ParseTuple(args, "O!y*O!n", &PyDict_Type, &traces, &b, &PyList_Type, &bits, &max_traces)) return NULL;
    PyObject *result = NULL;
    Py_ssize_t nb = PyList_GET_SIZE(bits), untracked = 0;
    unsigned long long gbit[64];
    int identity = 1;
    if (nb > 63) { result = Py_None; Py_INCREF(result); goto out; }
    for (Py_ssize_t i = 0; i < nb; i++) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(PyList_GET_ITEM(bits, i), &overflow);
        if (overflow || v <= 0 || v > (1LL << 62)) { PyErr_Clear(); result = Py_None; Py_INCREF(result); goto out; }
        gbit[i] = (unsigned long long)v;
        if (gbit[i] != 1ULL << i) identity = 0;
    }
    const char *p = b.buf, *e = p + b.len;
    while (p < e) {
        uint32_t n; uint64_t m;
        if (e - p < 12) goto cut;
        memcpy(&n, p, 4); memcpy(&m, p + 4, 8);
        if ((Py_ssize_t)n > e - p - 12) goto cut;
        unsigned long long g = 0;
        if (identity) g = m;
        else for (Py_ssize_t i = 0; i < nb; i++) if (m >> i & 1) g |= gbit[i];
        PyObject *key = PyBytes_FromStringAndSize(p + 12, n);
        p += 12 + n;
        if (!key) goto out;
        PyObject *nv, *old;
        if (PyDict_GET_SIZE(traces) < max_traces) {
            nv = PyLong_FromUnsignedLongLong(g);
            old = nv ? PyDict_SetDefault(traces, key, nv) : NULL;
            Py_XDECREF(nv);
            if (!old) { Py_DECREF(key); goto out; }
            if (old == nv) { Py_DECREF(key); continue; }
        } else {
            old = PyDict_GetItemWithError(traces, key);
            if (!old) { Py_DECREF(key); if (PyErr_Occurred()) goto out; untracked++; continue; }
        }
        int overflow = 0;
        long long o = PyLong_AsLongLongAndOverflow(old, &overflow);
        if (overflow || o < 0) { Py_DECREF(key); PyErr_SetString(PyExc_ValueError, "merge_packed: a mask out of range"); goto out; }
        if (((unsigned long long)o | g) != (unsigned long long)o) {
            nv = PyLong_FromUnsignedLongLong((unsigned long long)o | g);
            if (!nv || PyDict_SetItem(traces, key, nv)) { Py_XDECREF(nv); Py_DECREF(key); goto out; }
            Py_DECREF(nv);
        }
        Py_DECREF(key);
    }
    result = PyLong_FromSsize_t(untracked);
    goto out;
cut:
    PyErr_SetString(PyExc_ValueError, "merge_packed: cut");
out:
    PyBuffer_Release(&b);
    return result;
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
