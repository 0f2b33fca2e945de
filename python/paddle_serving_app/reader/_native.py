"""ctypes binding of libskiff.so's steps (include/skiff/steps.h): the readers'
image arithmetic is the server's, run in the client's process.

Where libskiff.so is looked for, first match wins:
  1. $SKIFF_LIB, the path of the library file;
  2. a checkout's build directory: <repository>/build/libskiff.so, when this
     package is imported from the repository's python/ folder;
  3. the system's library path (libskiff.so.0, then libskiff.so), as
     `make install` or `cmake --install` leaves it.
The library is loaded on first use (creating a reader that needs it), so
importing paddle_serving_app.reader costs nothing and IMDBDataset works
without it. When it cannot be found, SkiffLibraryNotFound (an ImportError)
says where it looked; there is no pure-Python fallback.

Data: numpy arrays go in without a copy (a C-contiguous array is wrapped with
skiff_tensor_wrap; others are made contiguous first) and come out without a
copy (the array views the tensor the step allocated, which is freed with the
array).
"""
import ctypes
import ctypes.util
import os
import threading

import numpy as np

_MAX_DIMS = 8
_MAX_OUT = 4


class SkiffLibraryNotFound(ImportError):
    """libskiff.so could not be found or loaded."""


class StepError(ValueError):
    """A step refused its parameters or its input; the message is skiff's."""

    def __init__(self, code, message):
        ValueError.__init__(self, message)
        self.code = code


class _Tensor(ctypes.Structure):
    # skiff_tensor_t (include/skiff/tensor.h)
    _fields_ = [("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("dims", ctypes.c_int64 * _MAX_DIMS), ("data", ctypes.c_void_p),
                ("nbytes", ctypes.c_size_t), ("flags", ctypes.c_uint)]


class _Param(ctypes.Structure):
    # skiff_step_param_t (include/skiff/steps.h)
    _fields_ = [("key", ctypes.c_char_p), ("value", ctypes.c_char_p)]


_TP = ctypes.POINTER(_Tensor)

# skiff_dtype_t (ONNX numbers) <-> numpy
_TO_SKIFF = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3,
             np.dtype(np.uint16): 4, np.dtype(np.int16): 5, np.dtype(np.int32): 6,
             np.dtype(np.int64): 7, np.dtype(np.bool_): 9, np.dtype(np.float16): 10,
             np.dtype(np.float64): 11, np.dtype(np.uint32): 12, np.dtype(np.uint64): 13}
_FROM_SKIFF = {v: k for k, v in _TO_SKIFF.items()}
_STRING = 8

_lib = None
_lib_lock = threading.Lock()


def _candidates():
    env = os.environ.get("SKIFF_LIB")
    if env:
        return [("$SKIFF_LIB", env)]
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(here))), "build",
                            "libskiff.so")
    out = [("the checkout's build directory", checkout)]
    found = ctypes.util.find_library("skiff")
    out.append(("the system library path", "libskiff.so.0"))
    if found:
        out.append(("the system library path", found))
    return out


def library_path():
    """The libskiff.so this package uses (loading it if needed)."""
    lib()
    return _lib._name


def lib():
    """libskiff.so as a ctypes.CDLL with the step API's signatures; loaded
    once. Raises SkiffLibraryNotFound."""
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        handle = None
        for where, path in _candidates():
            if os.sep in path and not os.path.exists(path):
                tried.append("%s (%s: no such file)" % (path, where))
                continue
            try:
                handle = ctypes.CDLL(path)
            except OSError as e:
                tried.append("%s (%s: %s)" % (path, where, e))
                continue
            if not hasattr(handle, "skiff_step_new"):
                tried.append("%s (%s: too old, no skiff_step_new)" % (path, where))
                handle = None
                continue
            break
        if handle is None:
            raise SkiffLibraryNotFound(
                "paddle_serving_app.reader: libskiff.so not found; the image readers run "
                "skiff's C steps and need it. Tried: " + "; ".join(tried) + ". Build it "
                "(cmake -S . -B build && cmake --build build), install it (make install), "
                "or set SKIFF_LIB=/path/to/libskiff.so.")
        _declare(handle)
        _lib = handle
        return _lib


def _declare(h):
    h.skiff_step_new.restype = ctypes.c_void_p
    h.skiff_step_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(_Param), ctypes.c_size_t,
                                 ctypes.POINTER(ctypes.c_void_p)]
    h.skiff_step_run.restype = ctypes.c_void_p
    h.skiff_step_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(_TP), ctypes.c_int,
                                 ctypes.POINTER(_TP), ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_int)]
    h.skiff_step_free.restype = None
    h.skiff_step_free.argtypes = [ctypes.c_void_p]
    h.skiff_step_name_at.restype = ctypes.c_char_p
    h.skiff_step_name_at.argtypes = [ctypes.c_int]
    h.skiff_tensor_wrap.restype = ctypes.c_void_p
    h.skiff_tensor_wrap.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int64),
                                    ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(_TP)]
    h.skiff_tensor_free.restype = None
    h.skiff_tensor_free.argtypes = [_TP]
    h.skiff_status_message.restype = ctypes.c_char_p
    h.skiff_status_message.argtypes = [ctypes.c_void_p]
    h.skiff_status_code.restype = ctypes.c_int
    h.skiff_status_code.argtypes = [ctypes.c_void_p]
    h.skiff_status_free.restype = None
    h.skiff_status_free.argtypes = [ctypes.c_void_p]


def _check(h, st):
    if st:
        msg = h.skiff_status_message(st).decode("utf-8", "replace")
        code = h.skiff_status_code(st)
        h.skiff_status_free(st)
        raise StepError(code, msg)


def step_names():
    """The built-in steps' names (skiff_step_name_at)."""
    h = lib()
    out = []
    while True:
        n = h.skiff_step_name_at(len(out))
        if n is None:
            return out
        out.append(n.decode())


class _Owned:
    """Hands a step's output tensor to numpy without a copy; the tensor is
    freed when the last array viewing it goes."""

    def __init__(self, h, ptr, shape, dtype):
        self._h = h
        self._ptr = ptr
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str,
                                    "data": (ptr.contents.data, False), "version": 3}

    def __del__(self):
        self._h.skiff_tensor_free(self._ptr)


def _out_array(h, ptr):
    t = ptr.contents
    shape = tuple(t.dims[i] for i in range(t.ndim))
    if t.dtype == _STRING:
        n = int(np.prod(shape)) if shape else 1
        strs = ctypes.cast(t.data, ctypes.POINTER(ctypes.c_char_p))
        vals = [(strs[i] or b"").decode("utf-8", "replace") for i in range(n)]
        h.skiff_tensor_free(ptr)
        arr = np.empty(n, dtype=object)
        arr[:] = vals
        return arr.reshape(shape)
    dtype = _FROM_SKIFF.get(t.dtype)
    if dtype is None:
        h.skiff_tensor_free(ptr)
        raise StepError(13, "step output of skiff dtype %d has no numpy type" % t.dtype)
    if t.nbytes == 0 or not t.data:
        h.skiff_tensor_free(ptr)
        return np.empty(shape, dtype=dtype)
    return np.asarray(_Owned(h, ptr, shape, dtype))


def _param_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_param_value(x) for x in v) + "]"
    if isinstance(v, float):
        return repr(v)
    return str(v)


class Step:
    """One built-in step, created once and run many times:

        s = Step("Resize", width=640, height=640, interpolation="linear")
        (out,) = s(img)         # numpy in, a list of numpy arrays out

    Parameter values may be str, int, float, bool or sequences of numbers;
    they are written as config.yml would write them. Any number of threads
    may call one Step at once."""

    def __init__(self, name, **params):
        self._h = lib()
        self._s = None
        self.name = name
        keys = list(params.items())
        arr = (_Param * max(1, len(keys)))()
        for i, (k, v) in enumerate(keys):
            arr[i].key = k.encode()
            arr[i].value = _param_value(v).encode()
        s = ctypes.c_void_p()
        _check(self._h, self._h.skiff_step_new(name.encode(), arr, len(keys), ctypes.byref(s)))
        self._s = s

    def __del__(self):
        if getattr(self, "_s", None):
            self._h.skiff_step_free(self._s)
            self._s = None

    def __call__(self, *inputs):
        h = self._h
        keep = []
        tin = (_TP * max(1, len(inputs)))()
        try:
            for i, x in enumerate(inputs):
                if isinstance(x, (bytes, bytearray, memoryview)):
                    a = np.frombuffer(x, dtype=np.uint8)
                else:
                    a = np.ascontiguousarray(x)
                code = _TO_SKIFF.get(a.dtype)
                if code is None:
                    raise TypeError("step '%s': input %d: numpy dtype %s is not supported"
                                    % (self.name, i, a.dtype))
                if a.ndim > _MAX_DIMS:
                    raise ValueError("step '%s': input %d has %d dims (at most %d)"
                                     % (self.name, i, a.ndim, _MAX_DIMS))
                keep.append(a)
                dims = (ctypes.c_int64 * max(1, a.ndim))(*a.shape)
                t = _TP()
                # zero-size arrays may have no buffer: any non-NULL pointer does
                data = a.ctypes.data if a.size else ctypes.addressof(dims)
                _check(h, h.skiff_tensor_wrap(code, a.ndim, dims, data, a.nbytes,
                                              ctypes.byref(t)))
                tin[i] = t
            tout = (_TP * _MAX_OUT)()
            n = ctypes.c_int(0)
            _check(h, h.skiff_step_run(self._s, tin, len(inputs), tout, _MAX_OUT,
                                       ctypes.byref(n)))
        finally:
            for i in range(len(inputs)):
                if tin[i]:
                    h.skiff_tensor_free(tin[i])  # the wrappers; the arrays stay
        return [_out_array(h, tout[i]) for i in range(n.value)]

    def __repr__(self):
        return "Step(%r)" % self.name
