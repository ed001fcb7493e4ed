/* The native log scanner's shared declarations (see module.c for what it is). */
#ifndef AUTOGLM_NATIVE_H
#define AUTOGLM_NATIVE_H
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
    int has_tsdef; double tsdef;  /* the time dockerd recorded before the line (kind docker) */
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
    PyObject *tz, *utc, *iso_hour, *hour_base, *parse_iso_py;
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
    PyObject *res, *traces, *aliases, *spans, *problems, *service, *kind;
    SvcCount counts[MAXSVC]; int ncounts;
    long long d_lines, d_outside, d_undated;
    int have_ts; double lo_ts, hi_ts;
    int in_tb;
    double ref;
    /* per line */
    Pair pairs[MAXENT]; int npairs; int top_dict; int top_keys; int pair_overflow;
    char *buf; Py_ssize_t bufcap;
    char *jbuf; Py_ssize_t jcap; int in_journal;  /* a journald entry's MESSAGE while it is read */   /* unescaped docker log line */
    char tmp[4096];                 /* one decoded wanted value */
    long long fallbacks, reparsed;
    Rec slots[2];
    PyObject *messages, *untraced, *first_errors, *other_key_text;
    long long d_errors;
    long max_messages;
} Scanner;


enum { C_WORD = 1, C_TEXT = 2, C_JSPECIAL = 4, C_CAND = 8 };
extern unsigned char CLASS[256];

static inline int is_word(unsigned char c) { return CLASS[c] & C_WORD; }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_hexl(unsigned char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }
static inline int is_hex(unsigned char c) { return is_hexl(c) || (c >= 'A' && c <= 'F'); }
static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
/* what bytes.strip() removes */
static inline int is_strip_ws(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static inline int is_text(unsigned char c) { return CLASS[c] & C_TEXT; }
static inline unsigned char low(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

static inline unsigned long hash_bytes(const char *p, Py_ssize_t n) {
    unsigned long h = 1469598103934665603UL;
    for (Py_ssize_t i = 0; i < n; i++) { h ^= (unsigned char)p[i]; h *= 1099511628211UL; }
    return h;
}

/* the profile's field sets a JSON / logfmt key belongs to (F_* bits) */
static inline int field_mask(Scanner *s, const char *k, Py_ssize_t n) {
    unsigned long h = hash_bytes(k, n) % FIELDTAB;
    for (int i = 0; i < FIELDTAB; i++) {
        FieldSlot *f = &s->fields[(h + i) % FIELDTAB];
        if (!f->key) return 0;
        if (f->n == n && memcmp(f->key, k, n) == 0) return f->mask;
    }
    return 0;
}

typedef struct { const char *p, *e; } Cur;

void init_classes(void);
Py_ssize_t first_not_text(const char *p, Py_ssize_t n);
const unsigned char *json_special(const unsigned char *p, const unsigned char *e);
int ci_eq(const char *a, const char *lit, Py_ssize_t n);
int starts(const char *t, Py_ssize_t n, const char *lit);
int shape(const char *x, Py_ssize_t n, const char *pat);
Py_ssize_t fraction_end(const char *t, Py_ssize_t e, Py_ssize_t n, const char *seps);
double epoch_of(double number, int *ok);
int py_time(PyObject *v, double *out);
int hour_epoch(Scanner *s, const char *dh, const char *zone, Py_ssize_t zn, int utc, double *out);
int parse_iso(Scanner *s, const char *t, Py_ssize_t n, int utc, double *out);
int parse_ts_str(Scanner *s, const char *t, Py_ssize_t n, int utc, double *out);
int yearless(Scanner *s, const char *t, Py_ssize_t n, double *out);
int field_add(Scanner *s, const char *k, Py_ssize_t n, int mask);
int level_of(const char *t, Py_ssize_t n);
int add_id(Rec *r, const char *t, Py_ssize_t n);
int set_msg(Rec *r, const char *t, Py_ssize_t n, int strip);
Py_ssize_t decoded(Scanner *s, Pair *pr);
PyObject *intern_service(Scanner *s, const char *t, Py_ssize_t n);
int fields(Scanner *s, Rec *r, int from, int to, int has_tsdef, double tsdef, const char *text, Py_ssize_t tn);
int jstring(Cur *c, int *esc, int *ascii);
int jnumber(Cur *c, int *isint);
int jobject(Scanner *s, Cur *c, int depth, int collect);
int jarray(Scanner *s, Cur *c, int depth);
int jvalue(Scanner *s, Cur *c, int depth, Pair *pr);
int json_line(Scanner *s, const char *p, Py_ssize_t n);
Py_ssize_t json_unescape(const char *v, Py_ssize_t vn, char *out);
int reserve(char **buf, Py_ssize_t *cap, Py_ssize_t n);
int exception_line(const char *t, Py_ssize_t n);
Py_ssize_t id_run(const char *t, Py_ssize_t n, Py_ssize_t p, int dots, int underscore);
Py_ssize_t key_tail(const char *t, Py_ssize_t n, Py_ssize_t q, const char *seps);
int text_ids(Rec *r, const char *t, Py_ssize_t n);
void text_status(Rec *r, const char *t, Py_ssize_t n);
int logfmt_pairs(Scanner *s, const char *t, Py_ssize_t n, int wanted_only, int *total);
int native_tail(Scanner *s, Rec *r, const char *t, Py_ssize_t n);
int parse_text(Scanner *s, Rec *r, const char *t, Py_ssize_t n, int has_tsdef, double tsdef);
int docker_record(Scanner *s, Rec *r, Pair *log, Pair *time);
int object_record(Scanner *s, Rec *r, int has_tsdef, double tsdef, int depth, const char *text, Py_ssize_t tn);
int parse_line(Scanner *s, Rec *r, const char *raw, Py_ssize_t n, int has_tsdef, double tsdef);
int journal_record(Scanner *s, Rec *r, int depth);
Py_ssize_t docker_prefix(Scanner *s, const char *raw, Py_ssize_t n, int *has_ts, double *ts);
SvcCount *count_of(Scanner *s, PyObject *svc);
int add_attr(PyObject *obj, const char *name, long long delta);
int flush(Scanner *s);
int account_python(Scanner *s, PyObject *rec);
PyObject *reparse(Scanner *s, Rec *r);
int line_message(Rec *r);
Py_ssize_t normalise(const char *m, Py_ssize_t n, char *out);
int bump(PyObject *dict, PyObject *key);
int add_error(Scanner *s, Rec *r, PyObject *trace);
int account_native(Scanner *s, Rec *r);
int account(Scanner *s, Rec *r);
void rec_clear(Rec *r);
int set_traceback(Rec *r);
PyObject *merge_traces(PyObject *self, PyObject *args);
PyObject *merge_aliases(PyObject *self, PyObject *args);
int widen(PyObject *into, PyObject *spans);
PyObject *merge_spans(PyObject *self, PyObject *args);
int earliest(PyObject *into, PyObject *errors);
PyObject *fold_aliases(PyObject *self, PyObject *args);
PyObject *pack_traces(PyObject *self, PyObject *args);
PyObject *unpack_traces(PyObject *self, PyObject *args);
PyObject *merge_packed(PyObject *self, PyObject *args);
PyObject *call_begin(Scanner *s, PyObject *res, PyObject *service);
void call_end(Scanner *s);
int add_fields(Scanner *s, PyObject *settings, const char *attr, int mask);
int opt_time(PyObject *settings, const char *attr, int *has, double *out);

#endif
