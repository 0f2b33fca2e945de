/* paddle.c - Paddle's own inference model format, loaded into the same graph
 * IR the ONNX loader builds, so every pass and kernel applies unchanged.
 *
 * A program (`__model__` or `*.pdmodel`: a serialized ProgramDesc, decoded by
 * protobuf-c code generated from paddle/framework.proto) names its variables
 * and ops; its persistable variables are read from the tensor stream
 * (PADDLE-FORMAT.md): one file per variable (Paddle 1.x), or one combined
 * file of the records in byte-wise sorted name order (`__params__`,
 * `*.pdiparams`). Each parameter's dtype and dims are checked against its
 * VarDesc. `feed` and `fetch` ops give the graph's inputs and outputs in
 * `col` order. Each other op becomes the ONNX node(s) of the same meaning
 * (Paddle's own semantics: `mul` flattens X at x_num_col_dims,
 * `elementwise_*` broadcast Y from `axis`, `scale` has bias_after_scale);
 * every op with no mapping is reported at once, as the ONNX loader does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "paddle_int.h"

#define PD(x) paddle__framework__proto__##x

static void *pb_alloc(void *d, size_t n) { return skiff__malloc(n ? n : 1); }
static void pb_free(void *d, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* VarType.Type (data) -> dtype; UNDEFINED for the others. */
skiff_dtype_t skiff__pd_dtype(int t)
{
    switch (t) {
    case 0: return SKIFF_DTYPE_BOOL;
    case 1: return SKIFF_DTYPE_INT16;
    case 2: return SKIFF_DTYPE_INT32;
    case 3: return SKIFF_DTYPE_INT64;
    case 4: return SKIFF_DTYPE_FLOAT16;
    case 5: return SKIFF_DTYPE_FLOAT32;
    case 6: return SKIFF_DTYPE_FLOAT64;
    case 20: return SKIFF_DTYPE_UINT8;
    case 21: return SKIFF_DTYPE_INT8;
    case 22: return SKIFF_DTYPE_BFLOAT16;
    case 37: return SKIFF_DTYPE_UINT32;
    case 38: return SKIFF_DTYPE_UINT64;
    default: return SKIFF_DTYPE_UNDEFINED;
    }
}

/* ---- the program ------------------------------------------------------------------ */

const pd_var *skiff__pd_find_var(const pd_block *b, const char *name)
{
    for (size_t i = 0; i < b->n_vars; i++)
        if (!strcmp(b->vars[i]->name, name))
            return b->vars[i];
    return NULL;
}

/* A dense tensor var's TensorDesc, or NULL. */
const pd_tensor_desc *skiff__pd_tensor_desc(const pd_var *v)
{
    return v && v->type && v->type->dense_tensor ? v->type->dense_tensor->tensor : NULL;
}

const pd_attr *skiff__pd_attr(const pd_op *op, const char *name)
{
    for (size_t i = 0; i < op->n_attrs; i++)
        if (!strcmp(op->attrs[i]->name, name))
            return op->attrs[i];
    return NULL;
}

int64_t skiff__pd_attr_int(const pd_op *op, const char *name, int64_t def)
{
    const pd_attr *a = skiff__pd_attr(op, name);
    if (!a)
        return def;
    return a->has_l ? a->l : a->has_i ? a->i : def;
}

/* The one argument of slot `param` of an op's inputs or outputs, or NULL. */
const char *skiff__pd_slot(Paddle__Framework__Proto__OpDesc__Var **vars, size_t n,
                           const char *param)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(vars[i]->parameter, param) && vars[i]->n_arguments)
            return vars[i]->arguments[0];
    return NULL;
}

int skiff__pd_value_of(skiff__pd_ctx *c, const char *name)
{
    if (!name)
        return -1;
    for (int i = c->n_ren - 1; i >= 0; i--)
        if (!strcmp(c->ren[i].name, name))
            return c->ren[i].value;
    return skiff__graph_find_value(c->g, name);
}

/* ---- parameters (the tensor stream) --------------------------------------------------- */

typedef struct rd {
    const uint8_t *p;
    size_t n, at;
    const char *what;
} rd;

static bool take(rd *r, void *dst, size_t n)
{
    if (r->n - r->at < n)
        return false;
    memcpy(dst, r->p + r->at, n);
    r->at += n;
    return true;
}

/* One tensor record at r's position into a constant tensor; its desc must
 * match the VarDesc. */
static skiff_status_t *read_record(rd *r, const char *name, const pd_var *var, skiff_tensor_t **out)
{
    uint32_t ver = 0;
    uint64_t lod_level = 0;
    if (!take(r, &ver, 4) || ver != 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s': lod tensor version %u (only 0 is known)",
                                r->what, name, ver);
    if (!take(r, &lod_level, 8) || lod_level > 16)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': bad LoD level",
                                r->what, name);
    for (uint64_t l = 0; l < lod_level; l++) {
        uint64_t nb;
        if (!take(r, &nb, 8) || nb > r->n - r->at)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': truncated LoD",
                                    r->what, name);
        r->at += nb;
    }
    int32_t desc_size;
    if (!take(r, &ver, 4) || ver != 0 || !take(r, &desc_size, 4) || desc_size < 0 ||
        (size_t)desc_size > r->n - r->at)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s': bad tensor header at byte %zu", r->what, name,
                                r->at);
    Paddle__Framework__Proto__StreamTensorDesc *d =
        PD(stream_tensor_desc__unpack)(&pb_allocator, (size_t)desc_size, r->p + r->at);
    if (!d)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': bad TensorDesc",
                                r->what, name);
    r->at += (size_t)desc_size;
    skiff_dtype_t dt = skiff__pd_dtype(d->data_type);
    int nd = (int)d->n_dims;
    int64_t dims[SKIFF_MAX_DIMS];
    skiff_status_t *st = NULL;
    const Paddle__Framework__Proto__VarType__TensorDesc *vd = skiff__pd_tensor_desc(var);
    if (dt == SKIFF_DTYPE_UNDEFINED || nd > SKIFF_MAX_DIMS)
        st = skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                              "%s: parameter '%s': data type %d or rank %d not supported", r->what,
                              name, d->data_type, nd);
    else if (vd && (vd->data_type != d->data_type || vd->n_dims != d->n_dims))
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "%s: parameter '%s' is %s of rank %d, its VarDesc says %s of rank "
                              "%zu",
                              r->what, name, skiff_dtype_name(dt), nd,
                              skiff_dtype_name(skiff__pd_dtype(vd->data_type)), vd->n_dims);
    for (int i = 0; !st && i < nd; i++) {
        dims[i] = d->dims[i];
        if (dims[i] < 0 || (vd && vd->dims[i] >= 0 && vd->dims[i] != dims[i]))
            st = skiff_status_new(
                SKIFF_CODE_INVALID_ARG, "%s: parameter '%s': dim %d is %lld, its VarDesc says %lld",
                r->what, name, i, (long long)dims[i], vd ? (long long)vd->dims[i] : -1LL);
    }
    PD(stream_tensor_desc__free_unpacked)(d, &pb_allocator);
    if (st)
        return st;
    int64_t numel = skiff_shape_numel(nd, dims);
    if (numel < 0 || (uint64_t)numel > (r->n - r->at) / skiff_dtype_size(dt))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s' (%lld elements) needs more bytes than "
                                "the %zu the file has left",
                                r->what, name, (long long)numel, r->n - r->at);
    if ((st = skiff_tensor_new(dt, nd, dims, out)))
        return st;
    if (!take(r, (*out)->data, (*out)->nbytes)) {
        skiff_tensor_free(*out);
        *out = NULL;
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "%s: parameter '%s' needs %zu bytes of data, the file ends first",
                                r->what, name,
                                skiff_dtype_size(dt) * (size_t)skiff_shape_numel(nd, dims));
    }
    return NULL;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool is_io_var(const pd_var *v)
{
    return v->type && (v->type->type == 9 || v->type->type == 10); /* FEED_MINIBATCH, FETCH_LIST */
}

/* Every persistable variable, from its own file (dir/<name>) or from the
 * combined file. */
/* Notes a parameter file (its name relative to the model's directory) in
 * the graph's external files, which skiff convert copies. */
static skiff_status_t *note_file(skiff__graph *g, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char **nf = skiff__realloc(g->ext_files, sizeof(char *) * (size_t)(g->n_ext_files + 1));
    if (!nf)
        return OOM();
    g->ext_files = nf;
    if (!(g->ext_files[g->n_ext_files] = skiff__strdup(base)))
        return OOM();
    g->n_ext_files++;
    return NULL;
}

static skiff_status_t *load_params(skiff__pd_ctx *c, const char *dir, const char *combined)
{
    const pd_block *b = c->b;
    const char **names = skiff__calloc(b->n_vars + 1, sizeof(char *));
    if (!names)
        return OOM();
    size_t n = 0;
    for (size_t i = 0; i < b->n_vars; i++)
        if (b->vars[i]->persistable && !is_io_var(b->vars[i]))
            names[n++] = b->vars[i]->name;
    qsort(names, n, sizeof(char *), cmp_str);
    skiff_status_t *st = NULL;
    const void *buf = NULL;
    size_t size = 0;
    rd r = {0};
    if (combined) {
        if ((st = skiff__map_file(combined, &buf, &size))) {
            skiff__free(names);
            return st;
        }
        r = (rd){buf, size, 0, combined};
    }
    char path[4096];
    for (size_t i = 0; !st && i < n; i++) {
        const void *one = NULL;
        size_t one_size = 0;
        if (!combined) {
            snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
            if ((st = skiff__map_file(path, &one, &one_size))) {
                st = skiff_status_wrap(st, "parameter '%s'", names[i]);
                break;
            }
            r = (rd){one, one_size, 0, path};
        }
        int v = skiff__graph_add_value(c->g, names[i]);
        skiff_tensor_t *t = NULL;
        size_t from = r.at;
        st = v < 0 ? OOM() : read_record(&r, names[i], skiff__pd_find_var(b, names[i]), &t);
        /* the record is copied: its pages of the combined file go, so the
         * weights are not held twice until the last one is read */
        if (combined && r.at > from)
            skiff__map_drop((const char *)buf + from, r.at - from);
        if (!st) {
            skiff__value *val = &c->g->values[v];
            val->constant = t;
            val->dtype = t->dtype;
            val->ndim = t->ndim;
            memcpy(val->dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
        }
        if (!combined && !st && r.at != r.n)
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s: %zu bytes after parameter '%s'",
                                  path, r.n - r.at, names[i]);
        if (!combined && !st)
            st = note_file(c->g, path);
        if (one)
            skiff__unmap_file(one, one_size);
    }
    if (combined && !st && r.at != r.n)
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                              "%s: %zu bytes left after the %zu parameters the program names",
                              combined, r.n - r.at, n);
    if (combined && !st)
        st = note_file(c->g, combined);
    if (buf)
        skiff__unmap_file(buf, size);
    skiff__free(names);
    return st;
}

/* ---- feed, fetch, ops -------------------------------------------------------------- */

static skiff_status_t *add_feeds(skiff__pd_ctx *c)
{
    const pd_block *b = c->b;
    skiff__graph *g = c->g;
    int n = 0;
    for (size_t i = 0; i < b->n_ops; i++)
        n += !strcmp(b->ops[i]->type, "feed");
    /* each feed, then the LoD offsets of each LoD feed */
    g->inputs = skiff__calloc(2 * (size_t)n + 1, sizeof(int));
    if (!g->inputs)
        return OOM();
    for (size_t i = 0; i < b->n_ops; i++) {
        const pd_op *op = b->ops[i];
        if (strcmp(op->type, "feed") != 0)
            continue;
        const char *name = skiff__pd_slot(op->outputs, op->n_outputs, "Out");
        int64_t col = skiff__pd_attr_int(op, "col", 0);
        if (!name || col < 0 || col >= n || g->inputs[col])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "feed op %zu: bad output or col %lld",
                                    i, (long long)col);
        const Paddle__Framework__Proto__VarType__TensorDesc *td =
            skiff__pd_tensor_desc(skiff__pd_find_var(b, name));
        int v = skiff__graph_add_value(g, name);
        if (v < 0)
            return OOM();
        skiff__value *val = &g->values[v];
        val->is_input = true;
        if (td) {
            /* Paddle checks a feed's declared sizes only when its variable
             * asks (need_check_feed); otherwise they are what the model was
             * exported with (a detector's 640x640), and any size runs. */
            const pd_var *var = skiff__pd_find_var(b, name);
            bool check = var->has_need_check_feed && var->need_check_feed;
            val->dtype = skiff__pd_dtype(td->data_type);
            val->ndim = td->n_dims <= SKIFF_MAX_DIMS ? (int)td->n_dims : -1;
            val->hinted = !check;
            for (int d = 0; d < val->ndim; d++) {
                val->dims[d] = check ? td->dims[d] : -1;
                val->hint[d] = td->dims[d];
            }
        }
        g->inputs[col] = v + 1; /* +1: 0 marks a free slot until all are in */
    }
    for (int i = 0; i < n; i++)
        g->inputs[i]--;
    g->n_inputs = n;
    /* A LoD feed's level-0 offsets: a graph input of its own, <feed>.lod. */
    for (int i = 0; i < n; i++) {
        const char *name = g->values[g->inputs[i]].name;
        const pd_var *var = skiff__pd_find_var(b, name);
        if (!var || !var->type || !var->type->dense_tensor ||
            var->type->dense_tensor->lod_level <= 0)
            continue;
        char lname[300];
        snprintf(lname, sizeof(lname), "%s.lod", name);
        if (skiff__graph_find_value(g, lname) >= 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "feed '%s': the program already has a variable '%s'", name,
                                    lname);
        int v = skiff__graph_add_value(g, lname);
        if (v < 0)
            return OOM();
        skiff__value *val = &g->values[v];
        val->is_input = true;
        val->dtype = SKIFF_DTYPE_INT64;
        val->ndim = 1;
        val->dims[0] = -1;
        g->inputs[g->n_inputs++] = v;
        if (!skiff__pd_lod_set(c, var->name, v))
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "more than %d LoD feeds",
                                    SKIFF__PD_LODS);
    }
    return NULL;
}

/* The variable a fetch serves: Paddle's save_inference_model puts an identity
 * `scale` op (scale 1, bias 0), its output named save_infer_model/..., behind
 * each target, and Paddle Serving's conf names the target itself; that is
 * the graph output, so the served name is the conf's. */
static const char *fetch_target(skiff__pd_ctx *c, const char *name)
{
    if (!name || strncmp(name, "save_infer_model/", 17) != 0)
        return name;
    for (size_t i = 0; i < c->b->n_ops; i++) {
        const pd_op *op = c->b->ops[i];
        const char *out = skiff__pd_slot(op->outputs, op->n_outputs, "Out");
        if (strcmp(op->type, "scale") != 0 || !out || strcmp(out, name) != 0)
            continue;
        const char *x = skiff__pd_slot(op->inputs, op->n_inputs, "X");
        int v = skiff__pd_value_of(c, x);
        bool identity = skiff__pd_attr_float(op, "scale", 1.0) == 1.0 &&
                        skiff__pd_attr_float(op, "bias", 0.0) == 0.0 &&
                        !skiff__pd_slot(op->inputs, op->n_inputs, "ScaleTensor");
        /* a computed value only: a feed or a parameter stays behind its scale */
        return identity && v >= 0 && c->g->values[v].producer >= 0 ? x : name;
    }
    return name;
}

static skiff_status_t *add_fetches(skiff__pd_ctx *c)
{
    const pd_block *b = c->b;
    skiff__graph *g = c->g;
    int n = 0;
    for (size_t i = 0; i < b->n_ops; i++)
        n += !strcmp(b->ops[i]->type, "fetch");
    /* each fetch, then the LoD offsets of each fetch that carries them */
    g->outputs = skiff__calloc(2 * (size_t)n + 1, sizeof(int));
    if (!g->outputs)
        return OOM();
    if (n == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "the program has no fetch op");
    for (int i = 0; i < n; i++)
        g->outputs[i] = -1;
    for (size_t i = 0; i < b->n_ops; i++) {
        const pd_op *op = b->ops[i];
        if (strcmp(op->type, "fetch") != 0)
            continue;
        const char *name = fetch_target(c, skiff__pd_slot(op->inputs, op->n_inputs, "X"));
        int64_t col = skiff__pd_attr_int(op, "col", 0);
        int v = skiff__pd_value_of(c, name);
        if (v < 0 || col < 0 || col >= n || g->outputs[col] >= 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "fetch op %zu: '%s' (col %lld) is not computed by the program",
                                    i, name ? name : "", (long long)col);
        const Paddle__Framework__Proto__VarType__TensorDesc *td =
            skiff__pd_tensor_desc(skiff__pd_find_var(b, name));
        skiff__value *val = &g->values[v];
        if (td && val->dtype == SKIFF_DTYPE_UNDEFINED)
            val->dtype = skiff__pd_dtype(td->data_type);
        if (td && val->ndim < 0 && td->n_dims <= SKIFF_MAX_DIMS) {
            /* The program's declared shape, -1 where dynamic. */
            val->ndim = (int)td->n_dims;
            for (int d = 0; d < val->ndim; d++)
                val->dims[d] = td->dims[d];
        }
        g->values[v].is_output = true;
        g->outputs[col] = v;
    }
    g->n_outputs = n;
    /* A fetch that carries a LoD: its offsets as a second output,
     * <fetch>.lod, as Paddle Serving answers <name>.lod beside the data. */
    for (int i = 0; i < n; i++) {
        const char *name = g->values[g->outputs[i]].name;
        int lod = skiff__pd_lod_of(c, name);
        if (lod < 0)
            continue;
        char lname[300];
        snprintf(lname, sizeof(lname), "%s.lod", name);
        if (skiff__graph_find_value(g, lname) >= 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "fetch '%s': the program already has a variable '%s'", name,
                                    lname);
        const char *outs[1] = {lname};
        skiff__node *node;
        skiff_status_t *st = skiff__pd_emit(c, "Identity", &lod, 1, outs, 1, &node);
        if (st)
            return st;
        int v = node->out[0];
        g->values[v].is_output = true;
        g->values[v].dtype = SKIFF_DTYPE_INT64;
        g->values[v].ndim = 1;
        g->values[v].dims[0] = -1;
        g->outputs[g->n_outputs++] = v;
    }
    return NULL;
}

/* Maps every op of block 0; names every op without a mapping in one error,
 * with how many times the program uses it. */
static skiff_status_t *add_ops(skiff__pd_ctx *c)
{
    enum { KINDS = 64 };
    const char *kind[KINDS];
    int count[KINDS], n_kinds = 0, n_missing = 0;
    for (size_t i = 0; i < c->b->n_ops; i++) {
        const pd_op *op = c->b->ops[i];
        if (!strcmp(op->type, "feed") || !strcmp(op->type, "fetch"))
            continue;
        bool known;
        skiff_status_t *st = skiff__pd_map_op(c, op, &known);
        if (st && n_missing) {
            /* Likely an input of an op skiff has no mapping for: the list of
             * those is the error to give. */
            skiff_status_free(st);
            continue;
        }
        if (st)
            return skiff_status_wrap(st, "op %zu (%s)", i, op->type);
        if (known)
            continue;
        n_missing++;
        int k = 0;
        while (k < n_kinds && strcmp(kind[k], op->type) != 0)
            k++;
        if (k == n_kinds && n_kinds < KINDS) {
            kind[n_kinds] = op->type;
            count[n_kinds++] = 0;
        }
        if (k < n_kinds)
            count[k]++;
    }
    if (!n_missing)
        return NULL;
    char msg[1536];
    size_t off = 0;
    for (int k = 0; k < n_kinds && off < sizeof(msg); k++)
        off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s x%d", k ? ", " : "", kind[k],
                                count[k]);
    return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "unsupported Paddle operator%s: %s",
                            n_kinds > 1 ? "s" : "", msg);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

bool skiff__paddle_find(const char *dir, char *model, size_t mcap, char *params, size_t pcap)
{
    static const char *const pairs[][2] = {{"__model__", "__params__"},
                                           {"__model__", "params"},
                                           {"inference.pdmodel", "inference.pdiparams"},
                                           {"model.pdmodel", "model.pdiparams"},
                                           {"inference.json", "inference.pdiparams"},
                                           {"model.json", "model.pdiparams"},
                                           {"__model__", NULL}};
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        snprintf(model, mcap, "%s/%s", dir, pairs[i][0]);
        if (!exists(model))
            continue;
        params[0] = '\0';
        if (pairs[i][1]) {
            snprintf(params, pcap, "%s/%s", dir, pairs[i][1]);
            if (!exists(params))
                continue;
        }
        return true;
    }
    return false;
}

/* The newest version of each op whose meaning the mappings implement (an
 * op's version grows when Paddle changes what its attributes or inputs
 * mean); ops not listed are read at version 0. A program that records a
 * newer version of an op it uses is refused rather than misread. */
static const struct {
    const char *op;
    int version;
} op_versions[] = {
    {"arg_max", 1},
    {"arg_min", 1},
    {"clip", 1},
    {"conv2d", 1},
    {"conv2d_transpose", 2},
    {"cumsum", 1},
    {"depthwise_conv2d", 1},
    {"elementwise_add", 1},
    {"elementwise_div", 1},
    {"elementwise_max", 1},
    {"elementwise_min", 1},
    {"elementwise_mul", 1},
    {"elementwise_pow", 1},
    {"elementwise_sub", 1},
    {"equal", 1},
    {"expand_as_v2", 1},
    {"fake_channel_wise_dequantize_max_abs", 2},
    {"fake_channel_wise_quantize_abs_max", 1},
    {"fill_constant", 2},
    {"gather", 1},
    {"greater_equal", 1},
    {"greater_than", 1},
    {"leaky_relu", 1},
    {"less_equal", 1},
    {"less_than", 1},
    {"lookup_table", 1},
    {"lookup_table_v2", 1},
    {"matmul", 1},
    {"mish", 1},
    {"not_equal", 1},
    {"yolo_box", 1},
};

int skiff__pd_op_version_known(const char *op)
{
    for (size_t i = 0; i < sizeof(op_versions) / sizeof(op_versions[0]); i++)
        if (!strcmp(op_versions[i].op, op))
            return op_versions[i].version;
    return 0;
}

/* Ops the program uses at a newer version than skiff reads: one error
 * naming each. */
static skiff_status_t *check_versions(const pd_program *p)
{
    if (!p->op_version_map || p->n_blocks == 0)
        return NULL;
    char msg[1024];
    size_t off = 0;
    int n = 0;
    const pd_block *b = p->blocks[0];
    for (size_t i = 0; i < p->op_version_map->n_pair; i++) {
        const Paddle__Framework__Proto__OpVersionMap__OpVersionPair *pr =
            p->op_version_map->pair[i];
        if (!pr->op_name || !pr->op_version)
            continue;
        int have = skiff__pd_op_version_known(pr->op_name);
        if (pr->op_version->version <= have)
            continue;
        bool used = false;
        for (size_t k = 0; k < b->n_ops && !used; k++)
            used = b->ops[k]->type && !strcmp(b->ops[k]->type, pr->op_name);
        if (!used || off >= sizeof(msg))
            continue;
        off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s v%d (reads up to v%d)",
                                n++ ? ", " : "", pr->op_name, pr->op_version->version, have);
    }
    return n ? skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "Paddle operator version%s newer than skiff reads: %s",
                                n > 1 ? "s" : "", msg)
             : NULL;
}

skiff_status_t *skiff__paddle_graph(const pd_block *b, const char *dir, const char *model_path,
                                    const char *params_path, skiff__graph **out_graph)
{
    skiff__graph *g = skiff__calloc(1, sizeof(*g));
    if (!g)
        return OOM();
    g->opset = 13;
    g->name = skiff__strdup("paddle");
    const char *base = strrchr(model_path, '/');
    g->paddle_program = skiff__strdup(base ? base + 1 : model_path);
    skiff__pd_ctx c = {.b = b, .g = g};
    skiff_status_t *st = g->name && g->paddle_program ? NULL : OOM();
    if (!st)
        st = load_params(&c, dir, params_path && params_path[0] ? params_path : NULL);
    if (!st)
        st = add_feeds(&c);
    if (!st)
        st = add_ops(&c);
    if (!st)
        st = add_fetches(&c);
    skiff__pd_ctx_free(&c);
    if (!st)
        st = skiff__graph_bind_kernels(g);
    if (st) {
        skiff__graph_free(g);
        return st;
    }
    skiff__graph_recount(g);
    *out_graph = g;
    return NULL;
}

skiff_status_t *skiff__paddle_parse(const char *dir, const char *model_path,
                                    const char *params_path, skiff__graph **out_graph)
{
    size_t n = strlen(model_path);
    if (n >= 5 && !strcmp(model_path + n - 5, ".json"))
        return skiff__paddle_pir_parse(dir, model_path, params_path, out_graph);
    const void *buf;
    size_t size;
    skiff_status_t *st = skiff__map_file(model_path, &buf, &size);
    if (st)
        return st;
    pd_program *p = PD(program_desc__unpack)(&pb_allocator, size, buf);
    skiff__unmap_file(buf, size);
    if (!p)
        return skiff__alloc_failed() ? OOM()
                                     : skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                                        "%s is not a Paddle ProgramDesc "
                                                        "(protobuf decoding failed)",
                                                        model_path);
    if (p->n_blocks == 0)
        st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "%s has no blocks", model_path);
    else if (!(st = check_versions(p)))
        st = skiff__paddle_graph(p->blocks[0], dir, model_path, params_path, out_graph);
    PD(program_desc__free_unpacked)(p, &pb_allocator);
    return skiff_status_wrap(st, "Paddle model %s", model_path);
}
