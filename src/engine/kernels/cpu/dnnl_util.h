/* dnnl_util.h - what the nn kernels (nn.c, conv.c, gemm.c, pool.c) share:
 * the process-wide oneDNN engine, error mapping, fused activations as
 * oneDNN post-ops or as a plain C pass, a small shape-keyed primitive cache
 * and the shared store of weights reordered into a primitive's preferred
 * layout. Internal to kernels/cpu: nn.c's op table is the only way in. */
#ifndef SKIFF_KERNELS_CPU_DNNL_UTIL_H
#define SKIFF_KERNELS_CPU_DNNL_UTIL_H

#include <pthread.h>

#include <oneapi/dnnl/dnnl.h>

#include "../../engine_int.h"

/* The CPU engine, created on first use and kept for the process (a oneDNN
 * CPU engine is stateless and safe to share between threads). NULL if
 * oneDNN cannot create one. */
dnnl_engine_t skiff__dnnl_engine(void);

/* "node 'x' (Conv): oneDNN <what> failed: <status name>". */
skiff_status_t *skiff__dnnl_err(const skiff__kctx *ctx, dnnl_status_t s, const char *what);

/* Builds a primitive attr with a user-managed scratchpad, a sum post-op
 * when with_sum, then acts[0..n_act) as eltwise post-ops:
 * dst = act(op + sum). Caller owns *out (dnnl_primitive_attr_destroy). */
dnnl_status_t skiff__dnnl_attr(const skiff__fused_act *acts, int n_act, bool with_sum,
                               dnnl_primitive_attr_t *out);

/* The same with an int8 sum post-op: `pre` (if any) on the result, then
 * dst = sum_scale * (dst - sum_zp) + the result, the addend stored as
 * sum_dt (u8, s8, or undef: dst's type), then the acts. */
dnnl_status_t skiff__dnnl_attr_qsum(const skiff__fused_act *pre, const skiff__fused_act *acts,
                                    int n_act, float sum_scale, int32_t sum_zp,
                                    dnnl_data_type_t sum_dt, dnnl_primitive_attr_t *out);

/* Row-major f32 memory descriptor for dims. */
dnnl_status_t skiff__dnnl_md_plain(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);

/* Applies node->act[0..n_act) in place: the fused-activation pass for every
 * path that does not run them as oneDNN post-ops. */
void skiff__nn_apply_act(const skiff__node *node, float *y, int64_t n, int threads);
void skiff__nn_apply_act_f64(const skiff__node *node, double *y, int64_t n, int threads);

/* Tensor the fused sum adds to the output (node->sum_input >= 0): the
 * executor passes it in ctx->in[ctx->n_in], after the node's inputs. NULL
 * when the node has no sum. *bcast is set when its shape is not the
 * output's but broadcasts to it (then it cannot be a oneDNN sum post-op);
 * an error in *st when it is missing or does not broadcast. */
const skiff_tensor_t *skiff__nn_sum_tensor(const skiff__kctx *ctx, const skiff_tensor_t *y,
                                           bool *bcast, skiff_status_t **st);

/* y += s, s broadcast numpy-style to y's dims; either may be stored
 * channels-last (rank >= 3). The rare path of a fused sum whose shape
 * differs from the output's. */
void skiff__nn_add_bcast(float *y, int ndim, const int64_t *dims, bool y_cl, const float *s,
                         int s_ndim, const int64_t *s_dims, bool s_cl, int threads);

/* Adds the fused sum (if any) then applies the fused activations: the
 * plain C epilogue of an output stored row-major. */
skiff_status_t *skiff__nn_epilogue(const skiff__kctx *ctx, skiff_tensor_t *y);

/* ---- weights packed into a primitive's preferred layout -------------------
 * Lives in node->prep, so all contexts share one copy. Filled lazily the
 * first time a context compiles a primitive (the layout depends on the
 * primitive, hence on the input shape); the mutex makes that happen once
 * per layout. Entries are never removed before prep_free, so a pointer
 * returned by the store stays valid for the model's life.
 *
 * The store also holds the weights as the model gave them (its source).
 * When the node is the only reader of the constant, prepare hands its
 * bytes to the store (skiff__wpack_source with take), and the store frees
 * them as soon as one packed copy exists and no primitive reads them as
 * stored: a model then holds its weights once, packed, instead of twice.
 * A layout wanted later (a new input shape, another kernel, the plain
 * matrix a fallback path reads) is derived from a packed copy: reordered
 * straight from one with the same dims and type, else through the model's
 * layout, which every copy can be reordered back to (exactly for float32;
 * a bf16 node's copies hold the bf16 weights it runs with anyway). Every
 * read of the source happens under the mutex, so one context releasing it
 * cannot pull it from under another that packs. */
#define SKIFF__WPACK_MAX 6
typedef struct skiff__wpack {
    pthread_mutex_t mu;
    int n;
    dnnl_memory_desc_t md[SKIFF__WPACK_MAX];  /* each copy's layout */
    dnnl_memory_desc_t umd[SKIFF__WPACK_MAX]; /* the model's layout, in the view it was made from */
    void *buf[SKIFF__WPACK_MAX];
    void *orig;        /* the weights as loaded; NULL once released */
    size_t orig_bytes; /* their size, also after release */
    bool own;          /* orig was taken from the graph: the store frees it */
    bool lent;         /* a primitive reads orig as stored: kept for the model's life */
} skiff__wpack;

void skiff__wpack_init(skiff__wpack *wp);
void skiff__wpack_destroy(skiff__wpack *wp);

/* Sets the store's source to input `input` of node when that is a float32
 * constant; false (nothing set) otherwise. When take_ok (the kernel reads
 * these weights through the store only) and the node reads them once and
 * nothing else does (not a graph output either), the store takes the bytes:
 * the graph's tensor keeps its type and shape, with data NULL, and the
 * kernel reads the weights through the store only. Load time, one thread. */
bool skiff__wpack_source(skiff__wpack *wp, const skiff__node *node, const skiff__graph *graph,
                         int input, bool take_ok);

/* Returns the weights laid out as `want`, derived from the source (whose
 * layout, in the caller's view, is user_md) on first use. When want is the
 * source's own layout and the source is held, the source itself, kept from
 * then on. NULL with *st NULL when the store is full (the caller then packs
 * privately); NULL with *st set on failure. */
void *skiff__wpack_get(skiff__wpack *wp, const dnnl_memory_desc_t *want,
                       const dnnl_memory_desc_t *user_md, skiff_status_t **st);

/* Hands weights already packed as `md` (from the source seen as user_md)
 * to the store: returns the copy to use from now on. When the store holds
 * `md` already, *buf is freed and the stored copy returned; when it has
 * room, it takes *buf; either way *buf becomes NULL. When it is full, *buf
 * stays the caller's and is returned. */
void *skiff__wpack_adopt(skiff__wpack *wp, const dnnl_memory_desc_t *md,
                         const dnnl_memory_desc_t *user_md, void **buf);

/* The constant weights laid out as `want`: the store's copy, or, when the
 * store is full, or has no such layout and private_pack is set, a copy
 * packed once into a new buffer *own that the caller keeps and frees
 * (skiff__wpack_adopt can hand it to the store later). With private_pack
 * the store is only read, never grown, and the source is never lent. NULL
 * on failure, with *s set (and *st too when the store failed). */
void *skiff__wpack_or_private(skiff__wpack *wp, bool private_pack, const dnnl_memory_desc_t *want,
                              const dnnl_memory_desc_t *user_md, void **own, dnnl_status_t *s,
                              skiff_status_t **st);

/* Bytes the store holds: its packed copies (returned) and, in *out_source,
 * the source when the store owns it and has not released it. */
size_t skiff__wpack_bytes(skiff__wpack *wp, size_t *out_source);

/* Reorders src into dst once on a private stream (setup-time work). */
dnnl_status_t skiff__dnnl_reorder_once(const dnnl_memory_desc_t *src_md, const void *src,
                                       const dnnl_memory_desc_t *dst_md, void *dst);

/* ---- per-context primitive cache ------------------------------------------
 * One per node and context (*ctx->cache): a stream and up to
 * SKIFF__PCACHE_MAX entries keyed by the input shapes, evicted oldest
 * first, so a model fed a few shapes compiles each once. */
#define SKIFF__KEY_MAX 40
typedef struct skiff__shape_key {
    int n;
    int64_t v[SKIFF__KEY_MAX];
} skiff__shape_key;

/* Appends a value / a tensor's dtype, rank and dims (NULL appends -1);
 * false when the key is full. */
bool skiff__key_add(skiff__shape_key *k, int64_t v);
bool skiff__key_add_tensor(skiff__shape_key *k, const skiff_tensor_t *t);

/* 16: an OCR service fed images of every size (each crop of its own width)
 * ran 96 new images in 11.5 s with 8 entries, 10.6 s with 16 and 9.9 s with
 * 32, at a peak RSS of 379, 415 and 516 MB (docs/performance.md, OCR). */
#define SKIFF__PCACHE_MAX 16
typedef struct skiff__pcache {
    dnnl_stream_t stream;
    void (*entry_free)(void *entry);
    int n, next;
    bool temp; /* made for a run without a context cache slot; freed after it */
    /* Entries are also keyed by the run's thread count (oneDNN sizes a
     * primitive's work split for the threads it was created under); threads
     * is the current run's, set by skiff__pcache_get. */
    int threads;
    int ent_threads[SKIFF__PCACHE_MAX];
    skiff__shape_key keys[SKIFF__PCACHE_MAX];
    void *entries[SKIFF__PCACHE_MAX];
} skiff__pcache;

/* The node's cache in this context, created on first use. */
skiff__pcache *skiff__pcache_get(skiff__kctx *ctx, void (*entry_free)(void *), skiff_status_t **st);
void *skiff__pcache_find(skiff__pcache *c, const skiff__shape_key *k);
/* Takes ownership of entry, evicting the oldest when full. */
void skiff__pcache_put(skiff__pcache *c, const skiff__shape_key *k, void *entry);
/* Frees a cache made for a context without a cache slot. */
void skiff__pcache_release(skiff__pcache *c);
/* op->cache_free for every op using skiff__pcache. */
void skiff__pcache_free(void *cache);

/* Creates the primitive for pd and, when it needs a (user-mode) scratchpad,
 * a memory object for it without a buffer (*m_scratch, *scratch_size; NULL
 * and 0 otherwise). The buffer is the context's shared scratch, set before
 * each execution by skiff__dnnl_set_scratch. The caller keeps pd alive only
 * as long as it needs queries. */
dnnl_status_t skiff__dnnl_prim_create(const_dnnl_primitive_desc_t pd, dnnl_primitive_t *prim,
                                      dnnl_memory_t *m_scratch, size_t *scratch_size);
/* Points m_scratch (if any) at the context's scratch, grown to size. */
dnnl_status_t skiff__dnnl_set_scratch(skiff__kctx *ctx, dnnl_memory_t m_scratch, size_t size);

/* Row-major dims [N, C, spatial...] stored channels-last (NWC, NHWC, NDHWC). */
dnnl_status_t skiff__dnnl_md_cl(dnnl_memory_desc_t *md, int ndim, const int64_t *dims);

/* dst[b][j][i] = src[b][i][j] for n matrices of rows x cols: between
 * channels-last [n, inner, c] and row-major [n, c, inner] (rows inner, cols
 * c one way; rows c, cols inner the other). */
void skiff__transpose_batched(float *dst, const float *src, int64_t n, int64_t rows, int64_t cols,
                              int threads);

/* ---- Gemm/MatMul helpers shared by gemm.c and matmul_packed.c ---- */
/* matmul_packed.c: Gemm/MatMul whose B is a constant float32 matrix. */
skiff_status_t *skiff__nn_gemm_prepare(skiff__node *node, const skiff__graph *graph);
void skiff__nn_gemm_prep_free(void *prep);
/* op->prep_bytes of Gemm and MatMul: see skiff__wpack_bytes. */
size_t skiff__nn_gemm_prep_bytes(void *prep, size_t *out_source);
/* B's data for the sgemm path: B->data, or, where the packed store took
 * B over (B->data NULL), the matrix as stored, derived from the store and
 * kept. NULL with *st on failure. */
const void *skiff__nn_gemm_b(const skiff__kctx *ctx, const skiff_tensor_t *B, skiff_status_t **st);
/* Y = A[M,K] x op(B) (+ C row) with the fused sum and activations, B packed
 * once. Sets *done when it handled the node (allocating Y, shape yd);
 * leaves it false, with nothing done, when the node needs the sgemm path. */
skiff_status_t *skiff__nn_gemm_packed(skiff__kctx *ctx, const skiff_tensor_t *A,
                                      const skiff_tensor_t *B, const skiff_tensor_t *C, int64_t M,
                                      int64_t N, int64_t K, bool tb, int yn, const int64_t *yd,
                                      bool *done);

#endif
