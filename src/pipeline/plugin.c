/* plugin.c - loading and calling C plugin ops (include/skiff/op.h). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/core.h"
#include "pipeline/plugin.h"
#include "skiff/log.h"
#include "skiff/op.h"

#define MAX_OUT 64

struct skiff__plugin {
    void *dl;
    const skiff_op_desc *desc;
    void *state;
    char *op;
    char *path;
};

static void host_log(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    skiff_log(level <= 0   ? SKIFF_LOG_DEBUG
              : level == 1 ? SKIFF_LOG_INFO
              : level == 2 ? SKIFF_LOG_WARN
                           : SKIFF_LOG_ERROR,
              "plugin: %s", msg);
}

static const skiff_op_host host = {
    .abi_version = SKIFF_OP_ABI_VERSION,
    .size = sizeof(skiff_op_host),
    .status_new = skiff_status_new,
    .tensor_new = skiff_tensor_new,
    .tensor_free = skiff_tensor_free,
    .tensor_numel = skiff_tensor_numel,
    .log = host_log,
};

void skiff__plugin_free(skiff__plugin *p)
{
    if (!p)
        return;
    if (p->desc && p->state && p->desc->destroy)
        p->desc->destroy(p->state);
    if (p->dl)
        dlclose(p->dl);
    skiff__free(p->op);
    skiff__free(p->path);
    skiff__free(p);
}

skiff_status_t *skiff__plugin_load(const char *path, const skiff__pipe_kv *params, int n,
                                   const char *op, skiff__plugin **out)
{
    *out = NULL;
    skiff__plugin *p = skiff__calloc(1, sizeof(*p));
    if (!p || !(p->op = skiff__strdup(op)) || !(p->path = skiff__strdup(path))) {
        skiff__plugin_free(p);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    skiff_status_t *st = NULL;
    p->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        const char *e = dlerror();
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %s: plugin %s does not load: %s", op,
                              path, e ? e : "(no reason given)");
        goto done;
    }
    skiff_op_plugin_fn entry;
    void *sym = dlsym(p->dl, SKIFF_OP_ENTRY);
    memcpy(&entry, &sym, sizeof(entry)); /* a data pointer to a function pointer */
    if (!sym) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "op %s: plugin %s exports no %s (see include/skiff/op.h)", op, path,
                              SKIFF_OP_ENTRY);
        goto done;
    }
    p->desc = entry(&host);
    if (!p->desc) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "op %s: plugin %s refused this host (op ABI %u)", op, path,
                              SKIFF_OP_ABI_VERSION);
        goto done;
    }
    if (p->desc->abi_version != SKIFF_OP_ABI_VERSION) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "op %s: plugin %s was built for op ABI %u, this skiff speaks "
                              "%u: rebuild it against this skiff's include/skiff/op.h",
                              op, path, p->desc->abi_version, SKIFF_OP_ABI_VERSION);
        p->desc = NULL;
        goto done;
    }
    if (p->desc->size < sizeof(skiff_op_desc) || !p->desc->process) {
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "op %s: plugin %s: its descriptor is %u bytes without process "
                              "(expected %zu)",
                              op, path, p->desc->size, sizeof(skiff_op_desc));
        p->desc = NULL;
        goto done;
    }
    if (p->desc->create) {
        skiff_op_param pp[64];
        int np = n < 64 ? n : 64;
        for (int i = 0; i < np; i++)
            pp[i] = (skiff_op_param){params[i].key, params[i].value};
        st = p->desc->create(pp, np, &p->state);
        if (st) {
            st = skiff_status_wrap(st, "op %s: plugin %s (%s)", op, path,
                                   p->desc->name ? p->desc->name : "?");
            p->state = NULL;
        }
    }
done:
    if (st) {
        skiff__plugin_free(p);
        return st;
    }
    *out = p;
    return NULL;
}

skiff_status_t *skiff__plugin_run(const skiff__plugin *p, skiff__pipe_dict *d)
{
    skiff_op_value small[16];
    skiff_op_value *in = d->n <= 16 ? small : skiff__calloc((size_t)d->n, sizeof(*in));
    if (!in)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < d->n; i++)
        in[i] = (skiff_op_value){d->vars[i].name, d->vars[i].v->t};
    skiff_op_value out[MAX_OUT] = {{0}};
    int n_out = 0;
    skiff_status_t *st = p->desc->process(p->state, in, d->n, out, MAX_OUT, &n_out);
    if (in != small)
        skiff__free(in);
    if (st)
        return skiff_status_wrap(st, "plugin %s", p->desc->name ? p->desc->name : p->path);
    if (n_out < 0 || n_out > MAX_OUT) {
        for (int i = 0; i < MAX_OUT; i++)
            skiff_tensor_free(out[i].tensor);
        return skiff_status_new(SKIFF_CODE_INTERNAL, "plugin %s: %d outputs (at most %d)", p->path,
                                n_out, MAX_OUT);
    }
    for (int i = 0; i < n_out; i++) {
        if (!st && (!out[i].name || !out[i].name[0] || !out[i].tensor))
            st = skiff_status_new(SKIFF_CODE_INTERNAL,
                                  "plugin %s: output %d has no name or no tensor", p->path, i);
        if (st) {
            skiff_tensor_free(out[i].tensor);
            continue;
        }
        st = skiff__pipe_dict_put(d, out[i].name, strlen(out[i].name), out[i].tensor, NULL, 0);
    }
    return st;
}
