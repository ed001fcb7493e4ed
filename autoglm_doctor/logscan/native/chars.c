#include "native.h"

/* ---- character classes ------------------------------------------------------------------ */
unsigned char CLASS[256];

void init_classes(void) {
    for (int c = 0; c < 256; c++) {
        int k = 0;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_') k |= C_WORD;
        if ((c >= 0x20 && c < 0x7f) || c == '\t') k |= C_TEXT;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) k |= C_JSPECIAL;
        if (c == '0' || c == 't' || c == 'T' || c == 'x' || c == 'X' || c == 'r' || c == 'R' || c == 'c') k |= C_CAND;
        CLASS[c] = (unsigned char)k;
    }
}
/* the first byte of p[0:n] that is not printable ASCII or a tab (n when there is none) */
Py_ssize_t first_not_text(const char *p, Py_ssize_t n) {
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
const unsigned char *json_special(const unsigned char *p, const unsigned char *e) {
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

int ci_eq(const char *a, const char *lit, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) if (low((unsigned char)a[i]) != (unsigned char)lit[i]) return 0;
    return 1;
}
int starts(const char *t, Py_ssize_t n, const char *lit) {
    Py_ssize_t m = (Py_ssize_t)strlen(lit);
    return n >= m && memcmp(t, lit, m) == 0;
}

/* x[0:n] starts with pat: 'd' is a digit, '?' a 'T' or a space, anything else itself */
int shape(const char *x, Py_ssize_t n, const char *pat) {
    Py_ssize_t i = 0;
    for (; pat[i]; i++) {
        if (i >= n) return 0;
        char p = pat[i], c = x[i];
        if (p == 'd' ? !is_digit(c) : p == '?' ? (c != 'T' && c != ' ') : c != p) return 0;
    }
    return 1;
}

/* a fraction at t[e] (one of seps, then digits): where it ends, or e when there is none */
Py_ssize_t fraction_end(const char *t, Py_ssize_t e, Py_ssize_t n, const char *seps) {
    if (e + 1 >= n || !strchr(seps, t[e]) || !t[e] || !is_digit(t[e + 1])) return e;
    e++;
    while (e < n && is_digit(t[e])) e++;
    return e;
}
