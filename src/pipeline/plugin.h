/* plugin.h - C plugin ops (include/skiff/op.h) as the pipeline runs them.
 *
 * Threads: load and free on the main thread; run from any op thread. */
#ifndef SKIFF_PIPELINE_PLUGIN_H
#define SKIFF_PIPELINE_PLUGIN_H

#include "pipeline/pipe_conf.h"
#include "pipeline/pipeline.h"

typedef struct skiff__plugin skiff__plugin;

/* dlopens path, checks the ABI, creates the op's state from params. Errors
 * name the op and the file. */
skiff_status_t *skiff__plugin_load(const char *path, const skiff__pipe_kv *params, int n,
                                   const char *op, skiff__plugin **out);
/* The op's values in, the plugin's outputs set into d (produced). */
skiff_status_t *skiff__plugin_run(const skiff__plugin *p, skiff__pipe_dict *d);
void skiff__plugin_free(skiff__plugin *p);

#endif
