/* conf.h - Paddle Serving's GeneralModelConfig (serving_server_conf.prototxt,
 * serving_client_conf.prototxt and their .stream binary forms): the feed and
 * fetch variables of a serving model directory, read with core's protobuf
 * text reader (core/prototxt.h) and written in both of Paddle's forms.
 *
 * Threads: any; nothing is shared. Memory: skiff__malloc & co.
 */
#ifndef SKIFF_MODEL_CONF_H
#define SKIFF_MODEL_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/prototxt.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

/* ---- Paddle Serving GeneralModelConfig -------------------------------------
 * feed_var / fetch_var { name alias_name is_lod_tensor feed_type|fetch_type
 * shape }, type codes as Paddle's (0 int64, 1 float32, 2 int32, 3 float64,
 * 4 int16, 5 float16, 6 bfloat16, 7 uint8, 8 int8, 9 bool, 10 complex64,
 * 11 complex128, 20 string). */

#define SKIFF__CONF_MAX_SHAPE (SKIFF_MAX_DIMS - 1) /* the batch dim takes one */

typedef struct skiff__conf_var {
    char *name;       /* model tensor name */
    char *alias_name; /* what clients use; defaults to name when absent */
    bool is_lod_tensor;
    int type; /* Paddle type code */
    int n_shape;
    int64_t shape[SKIFF__CONF_MAX_SHAPE]; /* dims without the batch dim */
} skiff__conf_var;

typedef struct skiff__model_conf {
    skiff__conf_var *feed;
    int n_feed;
    skiff__conf_var *fetch;
    int n_fetch;
} skiff__model_conf;

/* Parses a GeneralModelConfig in text format. Caller owns *out_conf (free with
 * skiff__model_conf_free). Errors name origin, line and column. */
skiff_status_t *skiff__model_conf_parse(const char *text, size_t len, const char *origin,
                                        skiff__model_conf **out_conf);

/* Reads and parses a file (its path names it in errors). */
skiff_status_t *skiff__model_conf_read_file(const char *path, skiff__model_conf **out_conf);

/* Writes the conf in Paddle's layout. Caller frees *out_text with skiff__free. */
skiff_status_t *skiff__model_conf_format(const skiff__model_conf *conf, char **out_text,
                                         size_t *out_len);

/* Writes the conf in protobuf binary form (Paddle's *.stream.prototxt).
 * Caller frees *out_data with skiff__free. */
skiff_status_t *skiff__model_conf_encode(const skiff__model_conf *conf, uint8_t **out_data,
                                         size_t *out_len);

void skiff__model_conf_free(skiff__model_conf *conf);

/* Paddle type code <-> skiff dtype. UNDEFINED / -1 when there is no mapping. */
skiff_dtype_t skiff__paddle_type_dtype(int type);
int skiff__paddle_type_from_dtype(skiff_dtype_t dtype);

#endif
