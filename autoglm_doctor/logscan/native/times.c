#include "native.h"

/* ---- times ------------------------------------------------------------------------------- */
double epoch_of(double number, int *ok) {
    static const double scales[4] = {1.0, 1e3, 1e6, 1e9};
    for (int i = 0; i < 4; i++) {
        double sec = number / scales[i];
        if (1e8 < sec && sec < 1e10) { *ok = 1; return sec; }
    }
    *ok = 0; return 0.0;
}

/* a float (or None) from Python: 1 a time, 0 None, -1 an exception */
int py_time(PyObject *v, double *out) {
    if (!v) return -1;
    if (v == Py_None) { Py_DECREF(v); return 0; }
    *out = PyFloat_AsDouble(v);
    Py_DECREF(v);
    if (*out == -1.0 && PyErr_Occurred()) return -1;
    return 1;
}

int hour_epoch(Scanner *s, const char *dh, const char *zone, Py_ssize_t zn, int utc, double *out) {
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
int parse_iso(Scanner *s, const char *t, Py_ssize_t n, int utc, double *out) {
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
int parse_ts_str(Scanner *s, const char *t, Py_ssize_t n, int utc, double *out) {
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

int yearless(Scanner *s, const char *t, Py_ssize_t n, double *out) {
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
