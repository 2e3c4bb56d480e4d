/* fabtel._avro_flat: reads the fields of a flat Avro record (no arrays or
 * nested records) into a tuple, the hot step of avro_reader for the most
 * frequent records (interface counters, state, BGP sessions). Optional: when
 * it is not built, avro_reader's generated Python does the same work (a test
 * holds both equal, and equal to fastavro).
 *
 * read_flat(data, offset, codes) -> (tuple, end)
 * codes: one letter per field: l long, u unsigned 64-bit long (two's
 * complement on the wire), s string, y bytes, b boolean, d double, n null;
 * '?' before a letter: the union [null, that type].
 * Malformed input raises ValueError (UnicodeDecodeError for bad UTF-8). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "doubles are copied as little-endian: build without this module on a big-endian host"
#endif

static int read_varint(const unsigned char *p, Py_ssize_t len, Py_ssize_t *i, uint64_t *out)
{
    uint64_t n = 0;
    int shift = 0;
    for (;;) {
        if (*i >= len) {
            PyErr_SetString(PyExc_ValueError, "varint past the end");
            return -1;
        }
        unsigned char x = p[(*i)++];
        if (shift == 63 && (x & 0x7F) > 1) {
            PyErr_SetString(PyExc_ValueError, "varint beyond 64 bits");
            return -1;
        }
        n |= (uint64_t)(x & 0x7F) << shift;
        if (x < 0x80)
            break;
        shift += 7;
        if (shift > 63) {
            PyErr_SetString(PyExc_ValueError, "varint longer than 10 bytes");
            return -1;
        }
    }
    *out = (n >> 1) ^ (~(n & 1) + 1);   /* zigzag */
    return 0;
}

static PyObject *read_value(char code, const unsigned char *p, Py_ssize_t len, Py_ssize_t *i)
{
    uint64_t v;
    switch (code) {
    case 'l':
        if (read_varint(p, len, i, &v) < 0) return NULL;
        return PyLong_FromLongLong((long long)(int64_t)v);
    case 'u':
        if (read_varint(p, len, i, &v) < 0) return NULL;
        return PyLong_FromUnsignedLongLong(v);
    case 's':
    case 'y': {
        if (read_varint(p, len, i, &v) < 0) return NULL;
        int64_t n = (int64_t)v;
        if (n < 0 || n > len - *i) {
            PyErr_SetString(PyExc_ValueError, code == 's' ? "string past the end" : "bytes past the end");
            return NULL;
        }
        const char *start = (const char *)p + *i;
        *i += n;
        return code == 's' ? PyUnicode_DecodeUTF8(start, n, "strict") : PyBytes_FromStringAndSize(start, n);
    }
    case 'b':
        if (*i >= len) {
            PyErr_SetString(PyExc_ValueError, "boolean past the end");
            return NULL;
        }
        return PyBool_FromLong(p[(*i)++] != 0);
    case 'd': {
        double d;
        if (len - *i < 8) {
            PyErr_SetString(PyExc_ValueError, "double past the end");
            return NULL;
        }
        memcpy(&d, p + *i, 8);   /* little-endian on the wire and on x86/arm hosts */
        *i += 8;
        return PyFloat_FromDouble(d);
    }
    case 'n':
        Py_RETURN_NONE;
    default:
        PyErr_Format(PyExc_ValueError, "unknown field code %c", code);
        return NULL;
    }
}

static PyObject *read_flat(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t i;
    const char *codes;
    Py_ssize_t ncodes;
    if (!PyArg_ParseTuple(args, "y*ny#", &buf, &i, &codes, &ncodes))
        return NULL;
    const unsigned char *p = buf.buf;
    Py_ssize_t len = buf.len;
    Py_ssize_t nfields = 0;
    for (Py_ssize_t k = 0; k < ncodes; k++)
        if (codes[k] != '?') nfields++;
    PyObject *tuple = PyTuple_New(nfields);
    if (tuple == NULL) goto fail;
    if (i < 0 || i > len) {
        PyErr_SetString(PyExc_ValueError, "offset past the end");
        goto fail;
    }
    Py_ssize_t field = 0;
    for (Py_ssize_t k = 0; k < ncodes; k++) {
        PyObject *value;
        if (codes[k] == '?') {
            uint64_t branch;
            k++;
            if (read_varint(p, len, &i, &branch) < 0) goto fail;
            if (branch == 0) {
                value = Py_NewRef(Py_None);
            } else if (branch == 1) {
                value = read_value(codes[k], p, len, &i);
            } else {
                PyErr_Format(PyExc_ValueError, "union branch %lld", (long long)(int64_t)branch);
                goto fail;
            }
        } else {
            value = read_value(codes[k], p, len, &i);
        }
        if (value == NULL) goto fail;
        PyTuple_SET_ITEM(tuple, field++, value);
    }
    PyBuffer_Release(&buf);
    return Py_BuildValue("(Nn)", tuple, i);
fail:
    Py_XDECREF(tuple);
    PyBuffer_Release(&buf);
    return NULL;
}

static PyMethodDef methods[] = {
    {"read_flat", read_flat, METH_VARARGS, "read_flat(data, offset, codes) -> (fields tuple, end offset)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_avro_flat", NULL, -1, methods};

PyMODINIT_FUNC PyInit__avro_flat(void) { return PyModule_Create(&module); }
