#include "native.h"

/* ---- JSON -------------------------------------------------------------------------------- */
static inline void ws(Cur *c) { while (c->p < c->e && (*c->p == ' ' || *c->p == '\t')) c->p++; }

/* a string after its opening quote: 0 ok (c->p after the closing quote), -1 not for us */
int jstring(Cur *c, int *esc, int *ascii) {
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


int jnumber(Cur *c, int *isint) {
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
int jobject(Scanner *s, Cur *c, int depth, int collect) {
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
            if (jvalue(s, c, depth + 1, &pr)) return -1;
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

int jarray(Scanner *s, Cur *c, int depth) {
    if (depth > MAXDEPTH) return -1;
    ws(c);
    if (c->p < c->e && *c->p == ']') { c->p++; return 0; }
    for (;;) {
        Pair pr;
        ws(c);
        if (jvalue(s, c, depth + 1, &pr)) return -1;
        ws(c);
        if (c->p >= c->e) return -1;
        if (*c->p == ',') { c->p++; continue; }
        if (*c->p == ']') { c->p++; return 0; }
        return -1;
    }
}

int jvalue(Scanner *s, Cur *c, int depth, Pair *pr) {
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
int json_line(Scanner *s, const char *p, Py_ssize_t n) {
    Cur c = {p, p + n};
    s->npairs = 0; s->top_dict = 0; s->top_keys = 0;
    ws(&c);
    if (c.p >= c.e || *c.p != '{') return -1;
    c.p++;
    if (jobject(s, &c, 0, 1)) return -1;
    ws(&c);
    return c.p == c.e ? 0 : -1;
}

/* a JSON string's contents (validated by jstring) with its escapes decoded into out (room for vn bytes):
   the length, or -1 for a \u escape beyond ASCII (only Python decodes those exactly) */
Py_ssize_t json_unescape(const char *v, Py_ssize_t vn, char *out) {
    Py_ssize_t o = 0;
    for (const char *q = v, *e = v + vn; q < e; q++) {
        if (*q != '\\') {
            const char *bs = memchr(q, '\\', e - q), *stop = bs ? bs : e;
            memcpy(out + o, q, stop - q); o += stop - q; q = stop - 1;
            continue;
        }
        char x = *++q;
        if (x == 'u') {
            unsigned int cp = (unsigned int)strtoul((char[5]){q[1], q[2], q[3], q[4], 0}, NULL, 16);
            if (cp > 0x7f) return -1;
            out[o++] = (char)cp; q += 4;
        } else
            out[o++] = x == 'n' ? '\n' : x == 'r' ? '\r' : x == 't' ? '\t' : x == 'b' ? '\b' : x == 'f' ? '\f' : x;
    }
    return o;
}

/* *buf with room for n bytes: 0, or -1 with MemoryError */
int reserve(char **buf, Py_ssize_t *cap, Py_ssize_t n) {
    if (*cap >= n) return 0;
    char *nb = PyMem_Realloc(*buf, n);
    if (!nb) { PyErr_NoMemory(); return -1; }
    *buf = nb; *cap = n;
    return 0;
}
