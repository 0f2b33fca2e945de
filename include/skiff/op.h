/* skiff/op.h - C plugins for pipeline ops (docs/pipeline.md, "C plugins").
 *
 * A plugin is a shared object that exports one function, skiff_op_plugin,
 * which receives the host's function table and returns the plugin's
 * descriptor. config.yml names it:
 *
 *     op:
 *       scale:
 *         plugin: ./libmy_op.so
 *         plugin_params: {factor: 2.5}
 *
 * The plugin links nothing of skiff's: it makes tensors and statuses through
 * the host table, and uses only the types of skiff/tensor.h and
 * skiff/status.h.
 *
 * ABI: SKIFF_OP_ABI_VERSION changes whenever a struct below changes in an
 * incompatible way. skiff refuses a plugin whose descriptor carries another
 * version, naming both; fields are only ever added at the end, and `size`
 * tells each side how much of the other's struct it may read.
 *
 * Threads: create and destroy run once, on the main thread; process runs on
 * the op's `concurrency` threads at once with the same state, so the state
 * must be read-only after create or guarded by the plugin.
 *
 * Ownership: in[] and its tensors are borrowed for the call. Tensors the
 * plugin writes to out[] are made with host->tensor_new and belong to skiff
 * once process returns NULL; on an error the plugin frees what it made. The
 * names in out[] are copied by skiff: they need to live until process
 * returns. A returned status (host->status_new) belongs to skiff.
 */
#ifndef SKIFF_OP_H
#define SKIFF_OP_H

#include <stddef.h>
#include <stdint.h>

#include "skiff/status.h"
#include "skiff/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SKIFF_OP_ABI_VERSION 1u
#define SKIFF_OP_ENTRY "skiff_op_plugin"

/* A named value: a tensor (a 0-d STRING tensor for a key/value pair's text). */
typedef struct skiff_op_value {
    const char *name;
    skiff_tensor_t *tensor;
} skiff_op_value;

/* One of plugin_params, as text. */
typedef struct skiff_op_param {
    const char *key;
    const char *value;
} skiff_op_param;

/* What skiff offers a plugin. */
typedef struct skiff_op_host {
    uint32_t abi_version; /* SKIFF_OP_ABI_VERSION of the host */
    uint32_t size;        /* sizeof(skiff_op_host) of the host */
    skiff_status_t *(*status_new)(skiff_code_t code, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
    skiff_status_t *(*tensor_new)(skiff_dtype_t dtype, int ndim, const int64_t *dims,
                                  skiff_tensor_t **out);
    void (*tensor_free)(skiff_tensor_t *t);
    int64_t (*tensor_numel)(const skiff_tensor_t *t);
    /* level: 0 debug, 1 info, 2 warn, 3 error */
    void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
} skiff_op_host;

/* What a plugin offers skiff. */
typedef struct skiff_op_desc {
    uint32_t abi_version; /* SKIFF_OP_ABI_VERSION the plugin was built with */
    uint32_t size;        /* sizeof(skiff_op_desc) of the plugin */
    const char *name;     /* for messages */
    /* The op's state from its plugin_params; NULL or an error naming the
     * parameter. */
    skiff_status_t *(*create)(const skiff_op_param *params, int n_params, void **state);
    /* One request: the op's values in; up to cap values out, their count in
     * *n_out. Names written replace values of the same name. */
    skiff_status_t *(*process)(void *state, const skiff_op_value *in, int n_in, skiff_op_value *out,
                               int cap, int *n_out);
    void (*destroy)(void *state);
} skiff_op_desc;

/* The one symbol a plugin exports. */
typedef const skiff_op_desc *(*skiff_op_plugin_fn)(const skiff_op_host *host);

#ifdef __cplusplus
}
#endif

#endif
