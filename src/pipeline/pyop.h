/* pyop.h - Python ops: Paddle-style Op classes run by an embedded CPython
 * (docs/pipeline.md, "Python ops").
 *
 * skiff serve --pipeline config.yml --py_main web_service.py starts the
 * interpreter once, runs the script as __main__ with a built-in module
 * `_skiff` importable, and the script's WebService.run_service() (the
 * python/ package) calls _skiff.register(name, [(op, [inputs], obj), ...])
 * instead of serving. Each request then calls obj._skiff_run(input_dicts,
 * data_id, log_id, run_model) on an op thread holding the GIL; run_model (a
 * callable skiff passes) releases the GIL while the op's model runs.
 *
 * Values cross without copying on the way in: a numeric value becomes a
 * read-only numpy array over the tensor's memory (kept alive by the array), a
 * 0-d string a str. Values coming back (numpy arrays, lists, numbers, str,
 * bytes) are copied into new tensors, cast to the model's feed dtypes where a
 * feed is named.
 *
 * Built without libpython3-dev (python3-embed), every function refuses with
 * a message saying so.
 *
 * Threads: load_script and shutdown from the main thread; op_run from any
 * thread (it takes the GIL).
 */
#ifndef SKIFF_PIPELINE_PYOP_H
#define SKIFF_PIPELINE_PYOP_H

#include <stdbool.h>
#include <stdint.h>

#include "model/model.h"
#include "pipeline/pipeline.h"

typedef struct skiff__py_op_decl {
    char *name;
    char **inputs; /* op names; none: the request */
    int n_inputs;
    void *obj; /* a strong reference to the Op object */
} skiff__py_op_decl;

typedef struct skiff__py_graph {
    char *name; /* the WebService's name */
    skiff__py_op_decl *ops;
    int n_ops;
} skiff__py_graph;

/* Whether this build embeds Python. */
bool skiff__py_enabled(void);

/* Starts the interpreter (once) and runs the script; *out holds what it
 * registered. An exception names the script and the Python error. */
skiff_status_t *skiff__py_load_script(const char *script, skiff__py_graph **out);
void skiff__py_graph_free(skiff__py_graph *g);

/* config.yml's `class: module.ClassName`: imports the module (dir, the
 * config's folder, first on sys.path), makes ClassName(name=name) and calls
 * its init_op. *out is a strong reference (skiff__py_obj_free). */
skiff_status_t *skiff__py_new_op(const char *cls, const char *name, const char *dir, void **out);
void skiff__py_obj_free(void *obj);

/* Runs the op's model on feed (values by the model's feed aliases); adds the
 * fetches to feed as produced values. */
typedef skiff_status_t *(*skiff__py_model_fn)(void *ctx, skiff__pipe_dict *feed);

/* One request through a Python op: inputs[i] are the values of the op
 * called input_names[i] ("@DAGExecutor" for the request); the op's answer is
 * set into out (produced). model is NULL for an op without a model; md then
 * too. *err_no is the op's own error code (prod_errcode) when it reports one,
 * else 0. */
skiff_status_t *skiff__py_op_run(void *obj, const char *op_name,
                                 const skiff__pipe_dict *const *inputs,
                                 const char *const *input_names, int n_inputs, uint64_t data_id,
                                 uint64_t log_id, skiff__py_model_fn model, void *model_ctx,
                                 const skiff__model_desc *md, skiff__pipe_dict *out, int *err_no);

/* Drops the interpreter's state at exit (after every pipeline is freed). */
void skiff__py_shutdown(void);

#endif
