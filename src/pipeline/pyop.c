/* pyop.c - the embedded CPython behind pyop.h. */
#ifdef SKIFF_WITH_PYTHON
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#endif

#include <stdio.h>
#include <string.h>

#include "core/buf.h"
#include "core/core.h"
#include "pipeline/pyop.h"

#ifndef SKIFF_WITH_PYTHON

bool skiff__py_enabled(void) { return false; }

static skiff_status_t *no_python(void)
{
    return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                            "Python ops need skiff built with Python (libpython3-dev, "
                            "pkg-config python3-embed); this build has none");
}

skiff_status_t *skiff__py_load_script(const char *script, skiff__py_graph **out)
{
    *out = NULL;
    return no_python();
}

skiff_status_t *skiff__py_new_op(const char *cls, const char *name, const char *dir, void **out)
{
    *out = NULL;
    return no_python();
}

void skiff__py_obj_free(void *obj) { (void)obj; }

void skiff__py_graph_free(skiff__py_graph *g) { (void)g; }

skiff_status_t *skiff__py_op_run(void *obj, const char *op_name,
                                 const skiff__pipe_dict *const *inputs,
                                 const char *const *input_names, int n_inputs, uint64_t data_id,
                                 uint64_t log_id, skiff__py_model_fn model, void *model_ctx,
                                 const skiff__model_desc *md, skiff__pipe_dict *out, int *err_no)
{
    *err_no = 0;
    return no_python();
}

void skiff__py_shutdown(void) {}

#else

static bool started;
static PyThreadState *main_state; /* the main thread's, while others run */
static PyObject *np_frombuffer, *np_ascontiguousarray, *np_array;
static skiff__py_graph *registered; /* filled by _skiff.register */

bool skiff__py_enabled(void) { return true; }

static skiff_status_t *oom(void)
{
    return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
}

/* The pending Python error as a status (and cleared): "TypeError: ..." */
static skiff_status_t *py_error(skiff_code_t code, const char *what)
{
    PyObject *type = NULL, *exc = NULL, *tb = NULL;
    PyErr_Fetch(&type, &exc, &tb);
    if (!type)
        return skiff_status_new(code, "%s failed", what);
    PyErr_NormalizeException(&type, &exc, &tb);
    PyObject *s = exc ? PyObject_Str(exc) : NULL;
    const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
    skiff_status_t *st =
        skiff_status_new(code, "%s raised %s: %s", what, ((PyTypeObject *)type)->tp_name,
                         msg ? msg : "(no message)");
    PyErr_Clear();
    Py_XDECREF(s);
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    return st;
}

/* ---- a tensor's memory as a buffer numpy can view ------------------------------------- */

typedef struct {
    PyObject_HEAD skiff__pipe_val *v;
} valbuf;

static void valbuf_dealloc(PyObject *self)
{
    skiff__pipe_val_unref(((valbuf *)self)->v);
    Py_TYPE(self)->tp_free(self);
}

static int valbuf_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    skiff__pipe_val *v = ((valbuf *)self)->v;
    return PyBuffer_FillInfo(view, self, v->t->data, (Py_ssize_t)v->t->nbytes, 1, flags);
}

static PyBufferProcs valbuf_as_buffer = {.bf_getbuffer = valbuf_getbuffer};

static PyTypeObject valbuf_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_skiff.TensorMemory",
    .tp_basicsize = sizeof(valbuf),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_dealloc = valbuf_dealloc,
    .tp_as_buffer = &valbuf_as_buffer,
    .tp_doc = "a skiff tensor's memory (read-only), kept alive while viewed",
};

static const char *np_name(skiff_dtype_t dt)
{
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32: return "float32";
    case SKIFF_DTYPE_FLOAT64: return "float64";
    case SKIFF_DTYPE_FLOAT16: return "float16";
    case SKIFF_DTYPE_INT64: return "int64";
    case SKIFF_DTYPE_INT32: return "int32";
    case SKIFF_DTYPE_INT16: return "int16";
    case SKIFF_DTYPE_INT8: return "int8";
    case SKIFF_DTYPE_UINT8: return "uint8";
    case SKIFF_DTYPE_UINT16: return "uint16";
    case SKIFF_DTYPE_UINT32: return "uint32";
    case SKIFF_DTYPE_UINT64: return "uint64";
    case SKIFF_DTYPE_BOOL: return "bool";
    case SKIFF_DTYPE_BFLOAT16: return "uint16"; /* numpy has no bfloat16: its bits */
    default: return NULL;
    }
}

static PyObject *shape_tuple(const skiff_tensor_t *t)
{
    PyObject *s = PyTuple_New(t->ndim);
    for (int i = 0; s && i < t->ndim; i++)
        PyTuple_SET_ITEM(s, i, PyLong_FromLongLong(t->dims[i]));
    return s;
}

/* A value as Python sees it (new reference, or NULL with an exception). */
static PyObject *val_to_py(skiff__pipe_val *v)
{
    const skiff_tensor_t *t = v->t;
    if (t->dtype == SKIFF_DTYPE_STRING) {
        int64_t n = skiff_tensor_numel(t);
        if (t->ndim == 0) {
            const char *s = ((char *const *)t->data)[0];
            return PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)(s ? strlen(s) : 0),
                                        "surrogateescape");
        }
        PyObject *list = PyList_New((Py_ssize_t)n);
        for (int64_t i = 0; list && i < n; i++) {
            const char *s = ((char *const *)t->data)[i];
            PyObject *u = PyUnicode_DecodeUTF8(s ? s : "", (Py_ssize_t)(s ? strlen(s) : 0),
                                               "surrogateescape");
            if (!u) {
                Py_DECREF(list);
                return NULL;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, u);
        }
        if (!list)
            return NULL;
        PyObject *arr = PyObject_CallOneArg(np_array, list);
        Py_DECREF(list);
        if (!arr)
            return NULL;
        PyObject *shape = shape_tuple(t);
        PyObject *r = shape ? PyObject_CallMethod(arr, "reshape", "O", shape) : NULL;
        Py_XDECREF(shape);
        Py_DECREF(arr);
        return r;
    }
    const char *dt = np_name(t->dtype);
    if (!dt) {
        PyErr_Format(PyExc_TypeError, "a %s tensor has no numpy form", skiff_dtype_name(t->dtype));
        return NULL;
    }
    valbuf *b = PyObject_New(valbuf, &valbuf_type);
    if (!b)
        return NULL;
    skiff__pipe_val_ref(v);
    b->v = v;
    PyObject *flat = PyObject_CallFunction(np_frombuffer, "Os", (PyObject *)b, dt);
    Py_DECREF(b);
    if (!flat)
        return NULL;
    PyObject *shape = shape_tuple(t);
    PyObject *r = shape ? PyObject_CallMethod(flat, "reshape", "O", shape) : NULL;
    Py_XDECREF(shape);
    Py_DECREF(flat);
    return r;
}

/* A dict of values (new reference); LoD as "<name>.lod" int64 arrays. */
static PyObject *dict_to_py(const skiff__pipe_dict *d)
{
    PyObject *o = PyDict_New();
    for (int i = 0; o && i < d->n; i++) {
        PyObject *v = val_to_py(d->vars[i].v);
        if (!v || PyDict_SetItemString(o, d->vars[i].name, v) != 0) {
            Py_XDECREF(v);
            Py_DECREF(o);
            return NULL;
        }
        Py_DECREF(v);
        const skiff__pipe_val *pv = d->vars[i].v;
        if (pv->lod && pv->n_lod > 0) {
            PyObject *l = PyList_New(pv->n_lod);
            for (int k = 0; l && k < pv->n_lod; k++)
                PyList_SET_ITEM(l, k, PyLong_FromLongLong(pv->lod[k]));
            PyObject *arr = l ? PyObject_CallFunction(np_array, "Os", l, "int64") : NULL;
            Py_XDECREF(l);
            char key[512];
            snprintf(key, sizeof(key), "%s.lod", d->vars[i].name);
            if (!arr || PyDict_SetItemString(o, key, arr) != 0) {
                Py_XDECREF(arr);
                Py_DECREF(o);
                return NULL;
            }
            Py_DECREF(arr);
        }
    }
    return o;
}

static skiff_dtype_t dtype_of_np(const char *kind_code, int itemsize)
{
    char k = kind_code[0];
    if (k == 'f')
        return itemsize == 4   ? SKIFF_DTYPE_FLOAT32
               : itemsize == 8 ? SKIFF_DTYPE_FLOAT64
               : itemsize == 2 ? SKIFF_DTYPE_FLOAT16
                               : SKIFF_DTYPE_UNDEFINED;
    if (k == 'i')
        return itemsize == 8   ? SKIFF_DTYPE_INT64
               : itemsize == 4 ? SKIFF_DTYPE_INT32
               : itemsize == 2 ? SKIFF_DTYPE_INT16
               : itemsize == 1 ? SKIFF_DTYPE_INT8
                               : SKIFF_DTYPE_UNDEFINED;
    if (k == 'u')
        return itemsize == 8   ? SKIFF_DTYPE_UINT64
               : itemsize == 4 ? SKIFF_DTYPE_UINT32
               : itemsize == 2 ? SKIFF_DTYPE_UINT16
               : itemsize == 1 ? SKIFF_DTYPE_UINT8
                               : SKIFF_DTYPE_UNDEFINED;
    if (k == 'b')
        return SKIFF_DTYPE_BOOL;
    return SKIFF_DTYPE_UNDEFINED;
}

/* String tensors hold C strings: a NUL inside would cut the value short unseen. */
static skiff_status_t *no_nul(const char *name, const char *s, Py_ssize_t n)
{
    const char *z = memchr(s, 0, (size_t)n);
    return z ? skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: a NUL byte at offset %zd of %zd (string values cannot "
                                "hold NUL)",
                                name, (Py_ssize_t)(z - s), n)
             : NULL;
}

/* A Python value as a new tensor (cast to want when want is numeric). */
static skiff_status_t *py_to_tensor(PyObject *o, const char *name, skiff_dtype_t want,
                                    skiff_tensor_t **out)
{
    *out = NULL;
    skiff_status_t *st;
    if (PyUnicode_Check(o) || PyBytes_Check(o)) {
        const char *s;
        Py_ssize_t n;
        if (PyUnicode_Check(o)) {
            s = PyUnicode_AsUTF8AndSize(o, &n);
            if (!s)
                return py_error(SKIFF_CODE_INVALID_ARG, name);
        } else {
            s = PyBytes_AS_STRING(o);
            n = PyBytes_GET_SIZE(o);
        }
        if ((st = no_nul(name, s, n)))
            return st;
        if ((st = skiff_tensor_new(SKIFF_DTYPE_STRING, 0, NULL, out)))
            return st;
        char *c = skiff__malloc((size_t)n + 1);
        if (!c) {
            skiff_tensor_free(*out);
            *out = NULL;
            return oom();
        }
        memcpy(c, s, (size_t)n);
        c[n] = '\0';
        ((char **)(*out)->data)[0] = c;
        return NULL;
    }
    const char *cast = want != SKIFF_DTYPE_STRING ? np_name(want) : NULL;
    PyObject *arr = cast ? PyObject_CallFunction(np_ascontiguousarray, "Os", o, cast)
                         : PyObject_CallOneArg(np_ascontiguousarray, o);
    if (!arr)
        return py_error(SKIFF_CODE_INVALID_ARG, name);
    PyObject *dtype = PyObject_GetAttrString(arr, "dtype");
    PyObject *kind = dtype ? PyObject_GetAttrString(dtype, "kind") : NULL;
    PyObject *isz = dtype ? PyObject_GetAttrString(dtype, "itemsize") : NULL;
    PyObject *shape = PyObject_GetAttrString(arr, "shape");
    const char *k = kind ? PyUnicode_AsUTF8(kind) : NULL;
    long itemsize = isz ? PyLong_AsLong(isz) : -1;
    st = NULL;
    int64_t dims[SKIFF_MAX_DIMS];
    int ndim = shape ? (int)PyTuple_Size(shape) : -1;
    if (!k || itemsize < 0 || ndim < 0)
        st = py_error(SKIFF_CODE_INVALID_ARG, name);
    else if (ndim > SKIFF_MAX_DIMS)
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: %d dimensions (at most %d)", name, ndim,
                              SKIFF_MAX_DIMS);
    for (int i = 0; !st && i < ndim; i++)
        dims[i] = PyLong_AsLongLong(PyTuple_GET_ITEM(shape, i));
    if (!st && (k[0] == 'U' || k[0] == 'O' || k[0] == 'S')) {
        /* text: each element's str() (bytes as they are) */
        PyObject *flat = PyObject_CallMethod(arr, "ravel", NULL);
        PyObject *list = flat ? PyObject_CallMethod(flat, "tolist", NULL) : NULL;
        Py_XDECREF(flat);
        if (!list)
            st = py_error(SKIFF_CODE_INVALID_ARG, name);
        else if (!(st = skiff_tensor_new(SKIFF_DTYPE_STRING, ndim, dims, out))) {
            Py_ssize_t n = PyList_Size(list);
            for (Py_ssize_t i = 0; !st && i < n; i++) {
                PyObject *e = PyList_GET_ITEM(list, i);
                PyObject *s = PyBytes_Check(e) ? (Py_INCREF(e), e) : PyObject_Str(e);
                const char *c = NULL;
                Py_ssize_t len = 0;
                if (s && PyBytes_Check(s)) {
                    c = PyBytes_AS_STRING(s);
                    len = PyBytes_GET_SIZE(s);
                } else if (s) {
                    c = PyUnicode_AsUTF8AndSize(s, &len);
                }
                if (!c) {
                    st = py_error(SKIFF_CODE_INVALID_ARG, name);
                    Py_XDECREF(s);
                    break;
                }
                char *copy = (st = no_nul(name, c, len)) ? NULL : skiff__malloc((size_t)len + 1);
                if (st) {
                    /* named above */
                } else if (!copy) {
                    st = oom();
                } else {
                    memcpy(copy, c, (size_t)len);
                    copy[len] = '\0';
                    ((char **)(*out)->data)[i] = copy;
                }
                Py_XDECREF(s);
            }
        }
        Py_XDECREF(list);
    } else if (!st) {
        skiff_dtype_t dt = dtype_of_np(k, (int)itemsize);
        Py_buffer view;
        if (dt == SKIFF_DTYPE_UNDEFINED)
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                  "%s: numpy dtype kind '%s' size %ld "
                                  "has no tensor type",
                                  name, k, itemsize);
        else if (PyObject_GetBuffer(arr, &view, PyBUF_C_CONTIGUOUS) != 0)
            st = py_error(SKIFF_CODE_INVALID_ARG, name);
        else {
            st = skiff_tensor_new(dt, ndim, dims, out);
            if (!st && (size_t)view.len != (*out)->nbytes)
                st = skiff_status_new(SKIFF_CODE_INTERNAL, "%s: %zd bytes for %zu", name, view.len,
                                      (*out)->nbytes);
            else if (!st && view.len)
                memcpy((*out)->data, view.buf, (size_t)view.len);
            PyBuffer_Release(&view);
        }
    }
    if (st) {
        skiff_tensor_free(*out);
        *out = NULL;
    }
    Py_XDECREF(kind);
    Py_XDECREF(isz);
    Py_XDECREF(dtype);
    Py_XDECREF(shape);
    Py_DECREF(arr);
    return st;
}

/* A Python dict into values (produced); want: the model's feed dtypes. */
static skiff_status_t *py_to_dict(PyObject *o, const char *what, const skiff__model_desc *md,
                                  skiff__pipe_dict *d)
{
    if (!PyDict_Check(o))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s is a %s, not a dict", what,
                                Py_TYPE(o)->tp_name);
    PyObject *key, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(o, &pos, &key, &val)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!k) {
            PyErr_Clear();
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s has a key that is not a str", what);
        }
        size_t kl = strlen(k);
        if (kl > 4 && !strcmp(k + kl - 4, ".lod"))
            continue; /* LoD travels with its value */
        skiff_dtype_t want = SKIFF_DTYPE_STRING;
        for (int i = 0; md && i < md->n_feed; i++)
            if (!strcmp(md->feed[i].alias, k) || !strcmp(md->feed[i].name, k))
                want = md->feed[i].dtype;
        char nm[300];
        snprintf(nm, sizeof(nm), "%s['%.200s']", what, k);
        skiff_tensor_t *t;
        skiff_status_t *st = py_to_tensor(val, nm, want, &t);
        if (!st)
            st = skiff__pipe_dict_put(d, k, kl, t, NULL, 0);
        if (st)
            return st;
    }
    return NULL;
}

/* ---- run_model: the callable an op's process() gets ------------------------------------ */

typedef struct {
    PyObject_HEAD skiff__py_model_fn fn;
    void *ctx;
    const skiff__model_desc *md;
    const char *op;
} runner;

static PyObject *runner_call(PyObject *self, PyObject *args, PyObject *kw)
{
    runner *r = (runner *)self;
    PyObject *feed;
    if (!PyArg_ParseTuple(args, "O:run_model", &feed))
        return NULL;
    skiff__pipe_dict d = {0};
    char what[160];
    snprintf(what, sizeof(what), "op %s: the feed", r->op);
    skiff_status_t *st = py_to_dict(feed, what, r->md, &d);
    if (!st) {
        for (int i = 0; i < d.n; i++)
            d.vars[i].produced = false;
        Py_BEGIN_ALLOW_THREADS st = r->fn(r->ctx, &d);
        Py_END_ALLOW_THREADS
    }
    if (st) {
        PyErr_SetString(PyExc_RuntimeError, skiff_status_message(st));
        skiff_status_free(st);
        skiff__pipe_dict_free(&d);
        return NULL;
    }
    skiff__pipe_dict fetch = {0};
    for (int i = 0; !st && i < d.n; i++)
        if (d.vars[i].produced) {
            skiff__pipe_val_ref(d.vars[i].v);
            st = skiff__pipe_dict_set(&fetch, d.vars[i].name, d.vars[i].v);
        }
    skiff__pipe_dict_free(&d);
    PyObject *o = st ? NULL : dict_to_py(&fetch);
    if (st) {
        PyErr_SetString(PyExc_MemoryError, skiff_status_message(st));
        skiff_status_free(st);
    }
    skiff__pipe_dict_free(&fetch);
    return o;
}

static PyTypeObject runner_type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "_skiff.ModelRunner",
    .tp_basicsize = sizeof(runner),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_call = runner_call,
    .tp_doc = "run_model(feed_dict) -> fetch_dict: the op's model in skiff's engine",
};

/* ---- the _skiff module ----------------------------------------------------------------- */

static char *dup_str(PyObject *o)
{
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    return s ? skiff__strdup(s) : NULL;
}

static void graph_free(skiff__py_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_ops; i++) {
        skiff__free(g->ops[i].name);
        for (int k = 0; k < g->ops[i].n_inputs; k++)
            skiff__free(g->ops[i].inputs[k]);
        skiff__free(g->ops[i].inputs);
        Py_XDECREF((PyObject *)g->ops[i].obj);
    }
    skiff__free(g->ops);
    skiff__free(g->name);
    skiff__free(g);
}

/* _skiff.register(name, [(op_name, [input names], op), ...]) */
static PyObject *mod_register(PyObject *self, PyObject *args)
{
    PyObject *name, *list;
    if (!PyArg_ParseTuple(args, "UO!:register", &name, &PyList_Type, &list))
        return NULL;
    skiff__py_graph *g = skiff__calloc(1, sizeof(*g));
    Py_ssize_t n = PyList_Size(list);
    if (!g || !(g->name = dup_str(name)) ||
        !(g->ops = skiff__calloc((size_t)n + 1, sizeof(*g->ops)))) {
        graph_free(g);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(list, i), *on, *ins, *obj;
        if (!PyArg_ParseTuple(t, "UO!O:register's op", &on, &PyList_Type, &ins, &obj)) {
            graph_free(g);
            return NULL;
        }
        skiff__py_op_decl *d = &g->ops[g->n_ops++];
        d->name = dup_str(on);
        Py_INCREF(obj);
        d->obj = obj;
        Py_ssize_t ni = PyList_Size(ins);
        d->inputs = skiff__calloc((size_t)ni + 1, sizeof(char *));
        if (!d->name || !d->inputs) {
            graph_free(g);
            return PyErr_NoMemory();
        }
        for (Py_ssize_t k = 0; k < ni; k++) {
            if (!(d->inputs[k] = dup_str(PyList_GET_ITEM(ins, k)))) {
                graph_free(g);
                return PyErr_Occurred() ? NULL : PyErr_NoMemory();
            }
            d->n_inputs++;
        }
    }
    graph_free(registered);
    registered = g;
    Py_RETURN_NONE;
}

static PyMethodDef mod_methods[] = {
    {"register", mod_register, METH_VARARGS,
     "register(name, [(op_name, [input op names], op)]): the pipeline skiff serves"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mod_def = {PyModuleDef_HEAD_INIT, "_skiff",
                                     "skiff's embedded side (pipeline registration)", -1,
                                     mod_methods};

static PyObject *mod_init(void)
{
    if (PyType_Ready(&valbuf_type) < 0 || PyType_Ready(&runner_type) < 0)
        return NULL;
    return PyModule_Create(&mod_def);
}

/* ---- the interpreter -------------------------------------------------------------------- */

static skiff_status_t *start(void)
{
    if (started)
        return NULL;
    if (PyImport_AppendInittab("_skiff", mod_init) != 0)
        return skiff_status_new(SKIFF_CODE_INTERNAL, "Python: cannot add the _skiff module");
    PyConfig cfg;
    PyConfig_InitPythonConfig(&cfg);
    cfg.install_signal_handlers = 0; /* skiff owns SIGTERM/SIGINT */
    cfg.parse_argv = 0;
    PyStatus ps = Py_InitializeFromConfig(&cfg);
    PyConfig_Clear(&cfg);
    if (PyStatus_Exception(ps))
        return skiff_status_new(SKIFF_CODE_INTERNAL, "Python did not start: %s",
                                ps.err_msg ? ps.err_msg : "(no reason given)");
    started = true;
    skiff_status_t *st = NULL;
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) {
        st = py_error(SKIFF_CODE_UNAVAILABLE, "import numpy (Python ops pass numpy arrays)");
    } else {
        np_frombuffer = PyObject_GetAttrString(np, "frombuffer");
        np_ascontiguousarray = PyObject_GetAttrString(np, "ascontiguousarray");
        np_array = PyObject_GetAttrString(np, "array");
        Py_DECREF(np);
        if (!np_frombuffer || !np_ascontiguousarray || !np_array)
            st = py_error(SKIFF_CODE_INTERNAL, "numpy");
    }
    /* from here every caller, the main thread included, takes the GIL with
     * PyGILState_Ensure */
    main_state = PyEval_SaveThread();
    return st;
}

skiff_status_t *skiff__py_load_script(const char *script, skiff__py_graph **out)
{
    *out = NULL;
    skiff_status_t *st = start();
    if (st)
        return st;
    PyGILState_STATE gs = PyGILState_Ensure();
    /* sys.argv = [script]; sys.path[0] = its folder; then runpy.run_path */
    PyObject *runpy = PyImport_ImportModule("runpy");
    PyObject *sys = PyImport_ImportModule("sys");
    PyObject *os_path = PyImport_ImportModule("os.path");
    PyObject *argv = Py_BuildValue("[s]", script);
    PyObject *dir = os_path ? PyObject_CallMethod(os_path, "dirname", "s", script) : NULL;
    PyObject *absdir = dir ? PyObject_CallMethod(os_path, "abspath", "O", dir) : NULL;
    PyObject *path = sys ? PyObject_GetAttrString(sys, "path") : NULL;
    PyObject *res = NULL;
    if (runpy && sys && argv && absdir && path && PyObject_SetAttrString(sys, "argv", argv) == 0 &&
        PyList_Insert(path, 0, absdir) == 0) {
        PyObject *fn = PyObject_GetAttrString(runpy, "run_path");
        PyObject *args = Py_BuildValue("(s)", script);
        PyObject *kw = Py_BuildValue("{s:s}", "run_name", "__main__");
        res = fn && args && kw ? PyObject_Call(fn, args, kw) : NULL;
        Py_XDECREF(kw);
        Py_XDECREF(args);
        Py_XDECREF(fn);
    }
    if (!res) {
        char what[600];
        snprintf(what, sizeof(what), "Python script %s", script);
        st = py_error(SKIFF_CODE_INVALID_ARG, what);
    }
    Py_XDECREF(res);
    Py_XDECREF(path);
    Py_XDECREF(absdir);
    Py_XDECREF(dir);
    Py_XDECREF(argv);
    Py_XDECREF(os_path);
    Py_XDECREF(sys);
    Py_XDECREF(runpy);
    if (!st && !registered)
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "Python script %s ran without registering a pipeline: it must "
                              "call WebService.run_service() (paddle_serving_server.web_service)",
                              script);
    if (!st) {
        *out = registered;
        registered = NULL;
    }
    PyGILState_Release(gs);
    return st;
}

skiff_status_t *skiff__py_new_op(const char *cls, const char *name, const char *dir, void **out)
{
    *out = NULL;
    skiff_status_t *st = start();
    if (st)
        return st;
    PyGILState_STATE gs = PyGILState_Ensure();
    const char *dot = strrchr(cls, '.');
    char what[400];
    snprintf(what, sizeof(what), "op %s: class %s", name, cls);
    if (!dot || dot == cls || !dot[1]) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: expected module.ClassName", what);
    } else {
        PyObject *sys = PyImport_ImportModule("sys");
        PyObject *path = sys ? PyObject_GetAttrString(sys, "path") : NULL;
        PyObject *d = dir ? PyUnicode_FromString(dir) : NULL;
        if (path && d && PySequence_Contains(path, d) == 0)
            PyList_Insert(path, 0, d);
        Py_XDECREF(d);
        Py_XDECREF(path);
        Py_XDECREF(sys);
        PyErr_Clear();
        PyObject *mod_name = PyUnicode_FromStringAndSize(cls, dot - cls);
        PyObject *mod = mod_name ? PyImport_Import(mod_name) : NULL;
        PyObject *k = mod ? PyObject_GetAttrString(mod, dot + 1) : NULL;
        PyObject *kw = k ? Py_BuildValue("{s:s}", "name", name) : NULL;
        PyObject *args = kw ? PyTuple_New(0) : NULL;
        PyObject *obj = args ? PyObject_Call(k, args, kw) : NULL;
        PyObject *ok = obj ? PyObject_CallMethod(obj, "_skiff_init", NULL) : NULL;
        if (!ok) {
            st = py_error(SKIFF_CODE_INVALID_ARG, what);
            Py_XDECREF(obj);
        } else {
            *out = obj;
        }
        Py_XDECREF(ok);
        Py_XDECREF(args);
        Py_XDECREF(kw);
        Py_XDECREF(k);
        Py_XDECREF(mod);
        Py_XDECREF(mod_name);
    }
    PyGILState_Release(gs);
    return st;
}

void skiff__py_obj_free(void *obj)
{
    if (!obj || !started)
        return;
    PyGILState_STATE gs = PyGILState_Ensure();
    Py_DECREF((PyObject *)obj);
    PyGILState_Release(gs);
}

void skiff__py_graph_free(skiff__py_graph *g)
{
    if (!g)
        return;
    PyGILState_STATE gs = PyGILState_Ensure();
    graph_free(g);
    PyGILState_Release(gs);
}

skiff_status_t *skiff__py_op_run(void *obj, const char *op_name,
                                 const skiff__pipe_dict *const *inputs,
                                 const char *const *input_names, int n_inputs, uint64_t data_id,
                                 uint64_t log_id, skiff__py_model_fn model, void *model_ctx,
                                 const skiff__model_desc *md, skiff__pipe_dict *out, int *err_no)
{
    *err_no = 0;
    PyGILState_STATE gs = PyGILState_Ensure();
    skiff_status_t *st = NULL;
    PyObject *ins = PyDict_New();
    for (int i = 0; ins && i < n_inputs; i++) {
        PyObject *d = dict_to_py(inputs[i]);
        if (!d || PyDict_SetItemString(ins, input_names[i], d) != 0) {
            Py_XDECREF(d);
            Py_CLEAR(ins);
            break;
        }
        Py_DECREF(d);
    }
    PyObject *run = NULL;
    if (ins && model) {
        runner *r = PyObject_New(runner, &runner_type);
        if (r) {
            r->fn = model;
            r->ctx = model_ctx;
            r->md = md;
            r->op = op_name;
        }
        run = (PyObject *)r;
    } else if (ins) {
        run = Py_NewRef(Py_None);
    }
    char what[200];
    snprintf(what, sizeof(what), "op %s", op_name);
    PyObject *res =
        run ? PyObject_CallMethod((PyObject *)obj, "_skiff_run", "OKKO", ins,
                                  (unsigned long long)data_id, (unsigned long long)log_id, run)
            : NULL;
    if (!res) {
        st = py_error(SKIFF_CODE_INTERNAL, what);
    } else {
        PyObject *o;
        int code = 0;
        const char *msg = NULL;
        if (!PyArg_ParseTuple(res, "Ois", &o, &code, &msg)) {
            st = py_error(SKIFF_CODE_INTERNAL, what);
        } else if (code != 0) {
            *err_no = code;
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "%s", msg && msg[0] ? msg : "(no message)");
        } else if ((st = py_to_dict(o, "postprocess's dict", NULL, out)) &&
                   skiff_status_code(st) == SKIFF_CODE_INVALID_ARG) {
            /* the op's own output, not the request, is wrong: not the client's
             * INPUT_PARAMS_ERROR (the caller names the op) */
            skiff_status_t *why = st;
            st = skiff_status_new(SKIFF_CODE_INTERNAL, "%s", skiff_status_message(why));
            skiff_status_free(why);
        }
    }
    Py_XDECREF(res);
    Py_XDECREF(run);
    Py_XDECREF(ins);
    PyGILState_Release(gs);
    return st;
}

void skiff__py_shutdown(void)
{
    /* The interpreter stays until the process ends: finalizing it while C
     * extension modules (numpy) hold state is not reliable, and the process
     * is exiting anyway. */
}

#endif
