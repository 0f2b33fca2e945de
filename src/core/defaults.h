/* defaults.h - every built-in default of a setting, in one place. The
 * configuration tables (serve/config.c) and the layers that need a default
 * when no table is involved (the codecs' limits, the model options) read
 * them from here, so a default is changed once. */
#ifndef SKIFF_CORE_DEFAULTS_H
#define SKIFF_CORE_DEFAULTS_H

/* serve: network and limits */
#define SKIFF_DEFAULT_PORT 9393
#define SKIFF_DEFAULT_HOST "127.0.0.1"
#define SKIFF_DEFAULT_MAX_BODY_SIZE 536870912LL
#define SKIFF_DEFAULT_MAX_HEADER_SIZE 8192
#define SKIFF_DEFAULT_IDLE_TIMEOUT_S 60
#define SKIFF_DEFAULT_REQUEST_TIMEOUT_S 60
#define SKIFF_DEFAULT_GRACE_S 30
#define SKIFF_DEFAULT_MAX_CONNECTIONS 4096

/* model: batching, queue, inline runs */
#define SKIFF_DEFAULT_BATCH_INFER_SIZE 32
#define SKIFF_DEFAULT_MAX_QUEUE_DELAY_US 100
#define SKIFF_DEFAULT_QUEUE_SIZE 1024
#define SKIFF_DEFAULT_INLINE_MAX_US 200

/* proto: what one decoded request may hold */
#define SKIFF_CODEC_DEFAULT_MAX_ELEMENTS ((int64_t)64 << 20)
#define SKIFF_CODEC_DEFAULT_MAX_INPUTS 1024
#define SKIFF_CODEC_DEFAULT_MAX_OUTPUTS 1024

/* vision: the most pixels (width x height) a decoded image may have; a
 * larger header is refused before anything is allocated. 8192 x 8192. */
#define SKIFF_DEFAULT_IMAGE_MAX_PIXELS ((int64_t)64 << 20)

#endif
