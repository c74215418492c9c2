/* Shared helpers of corral's C modules (_native.c, _engine.c): C-contiguous buffers checked for item size and
 * format, released in bulk. Header-only (static functions), so each module stays one translation unit. */
#ifndef CORRAL_BUF_H
#define CORRAL_BUF_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------------------------------ buffers */

typedef struct {
    Py_buffer view;
    int held;
} Buf;

static int get_buf(PyObject *obj, Buf *b, int writable, const char *fmt_chars, Py_ssize_t itemsize,
                   const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    b->held = 0;
    if (PyObject_GetBuffer(obj, &b->view, flags) < 0) return -1;
    b->held = 1;
    const char *f = b->view.format ? b->view.format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@') f++;
    if (b->view.itemsize != itemsize || strchr(fmt_chars, f[0]) == NULL) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes (format one of '%s'), got '%s'", name,
                     itemsize, fmt_chars, b->view.format ? b->view.format : "B");
        return -1;
    }
    return 0;
}

static void release(Buf *b) {
    if (b->held) PyBuffer_Release(&b->view);
    b->held = 0;
}

/* release every buffer named: RELEASE(&a, &b, ...) */
#define RELEASE(...)                                                                         \
    do {                                                                                     \
        Buf *bufs_[] = {__VA_ARGS__};                                                        \
        for (size_t i_ = 0; i_ < sizeof(bufs_) / sizeof(bufs_[0]); i_++) release(bufs_[i_]); \
    } while (0)

#endif
