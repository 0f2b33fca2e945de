/* compile.c - compiled models: from a loaded graph to a skiff_model_t.
 *
 * skiff_model_load parses the ONNX file (onnx.c), runs the graph passes
 * (passes.c, which fold constants by running kernels through exec.c), plans
 * the channels-last edges, lets each kernel prepare its immutable state
 * (packed weights), fixes the execution order and marks the shape-chain
 * nodes the executor may answer from its memo (see exec.c). The result is
 * never written again and is shared by every context and thread. */
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "engine_int.h"

static void fill_info(const skiff__value *v, skiff_value_info_t *info)
{
    info->name = v->name;
    info->dtype = v->dtype;
    info->ndim = v->ndim;
    for (int i = 0; i < SKIFF_MAX_DIMS; i++)
        info->dims[i] = i < v->ndim ? v->dims[i] : 0;
}

static skiff_status_t *prepare_nodes(skiff__graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op || !n->op->prepare)
            continue;
        skiff_status_t *st = n->op->prepare(n, g);
        if (st)
            return st;
    }
    return NULL;
}

bool skiff__node_nondeterministic(const skiff__node *n)
{
    if (n->domain[0] != '\0' || strncmp(n->op_type, "Random", 6) == 0 ||
        strcmp(n->op_type, "Multinomial") == 0 || strcmp(n->op_type, "Bernoulli") == 0)
        return true;
    for (int a = 0; a < n->n_attrs; a++) {
        const skiff__attr *at = &n->attrs[a];
        const skiff__graph *sg = at->sub ? at->sub->g : at->g;
        for (int i = 0; sg && i < sg->n_nodes; i++)
            if (!sg->nodes[i].dead && skiff__node_nondeterministic(&sg->nodes[i]))
                return true;
    }
    return false;
}

/* Marks Shape/Size nodes as roots and the nodes computed only from roots and
 * constants as derived (execution order is topological, so one pass does).
 * A graph without Shape or Size nodes gets no table. */
static skiff_status_t *mark_shape_nodes(skiff_model_t *m)
{
    const skiff__graph *g = m->g;
    bool roots = false;
    for (int oi = 0; oi < m->n_order && !roots; oi++) {
        const skiff__node *n = &g->nodes[m->order[oi]];
        roots = n->domain[0] == '\0' &&
                (strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0);
    }
    if (!roots)
        return NULL;
    unsigned char *val = skiff__calloc((size_t)g->n_values + 1, 1); /* derived values */
    m->shape_kind = skiff__calloc((size_t)g->n_nodes + 1, 1);
    if (!val || !m->shape_kind) {
        skiff__free(val);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    for (int oi = 0; oi < m->n_order; oi++) {
        int ni = m->order[oi];
        const skiff__node *n = &g->nodes[ni];
        unsigned char kind = SKIFF__SHAPE_NONE;
        if (n->domain[0] == '\0' &&
            (strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0) && n->n_in >= 1 &&
            n->in[0] >= 0) {
            kind = SKIFF__SHAPE_ROOT;
        } else if (!skiff__node_nondeterministic(n) && n->n_out <= 16 && n->sum_input < 0) {
            bool any = false, all = true;
            for (int k = 0; k < n->n_in && all; k++) {
                int v = n->in[k];
                if (v < 0)
                    continue;
                if (val[v])
                    any = true;
                else if (!g->values[v].constant)
                    all = false;
            }
            if (any && all)
                kind = SKIFF__SHAPE_DERIVED;
        }
        m->shape_kind[ni] = kind;
        if (kind != SKIFF__SHAPE_NONE)
            for (int o = 0; o < n->n_out; o++)
                if (n->out[o] >= 0)
                    val[n->out[o]] = 1;
        m->n_derived += kind == SKIFF__SHAPE_DERIVED;
    }
    skiff__free(val);
    return NULL;
}

/* Settles the precision the model runs in: the requested one where this
 * CPU has the instructions (one warning and FP32 where not), then marks the
 * nodes that run in it. */
/* The requested precision where this CPU runs it (one warning and fp32
 * where not); before the graph passes, which the int8 one changes. */
static skiff_status_t *settle_precision(skiff_model_t *m, skiff_precision_t want)
{
    if (want != SKIFF_PRECISION_FP32 && want != SKIFF_PRECISION_BF16 &&
        want != SKIFF_PRECISION_INT8)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "precision: unknown value %d", (int)want);
    const char *why = NULL;
    if (want == SKIFF_PRECISION_BF16 && !skiff__cpu_has_bf16(&why)) {
        skiff_log(SKIFF_LOG_WARN, "model '%s': precision bf16 requested, running fp32: %s",
                  m->g->name, why);
        want = SKIFF_PRECISION_FP32;
    }
    m->precision = want;
    return NULL;
}

/* After the passes: marks the nodes that run in the precision (bf16), or
 * counts the int8 convolutions the int8 pass made (none: fp32, warned). */
static skiff_status_t *plan_precision(skiff_model_t *m, const skiff__pass_stats *ps, int verbose)
{
    skiff_precision_t want = m->precision;
    int qdq_fused = ps->qdq_fused + ps->qdq_mm_fused;
    if (want == SKIFF_PRECISION_INT8 && ps->qdq_saturating)
        skiff_log(SKIFF_LOG_WARN,
                  "model '%s': %d of %d int8 convolutions have weights beyond 7 bits; this CPU "
                  "has no VNNI, so their uint8 x int8 products can saturate in pairs (as in "
                  "other engines): quantize with 7-bit weights (`skiff quantize` does; "
                  "docs/precision.md)",
                  m->g->name, ps->qdq_saturating, qdq_fused);
    if (want == SKIFF_PRECISION_INT8 && ps->qdq_float && qdq_fused)
        skiff_log(SKIFF_LOG_INFO,
                  "model '%s': %d quantized convolutions stay float (oneDNN's int8 kernels "
                  "need constant scales, int8 weights with zero point 0)",
                  m->g->name, ps->qdq_float);
    if (want == SKIFF_PRECISION_INT8 && qdq_fused == 0) {
        skiff_log(SKIFF_LOG_WARN,
                  "model '%s': precision int8 requested, running fp32: the model has no "
                  "quantized (QuantizeLinear/DequantizeLinear) convolution int8 kernels run; "
                  "make one with `skiff quantize`",
                  m->g->name);
        want = SKIFF_PRECISION_FP32;
    }
    m->precision = want;
    m->n_reduced = want == SKIFF_PRECISION_INT8 ? qdq_fused : skiff__plan_precision(m->g, want);
    if (verbose && want == SKIFF_PRECISION_INT8 && ps->qdq_sum_fused)
        skiff_log(SKIFF_LOG_INFO,
                  "model '%s': precision int8: %d convolutions and products in int8 (%d add "
                  "their quantized residual in the same kernel), the rest fp32",
                  m->g->name, m->n_reduced, ps->qdq_sum_fused);
    else if (verbose && want != SKIFF_PRECISION_FP32)
        skiff_log(SKIFF_LOG_INFO,
                  "model '%s': precision %s: %d convolutions and products in %s, the rest fp32",
                  m->g->name, skiff_precision_name(want), m->n_reduced, skiff_precision_name(want));
    return NULL;
}

const char *skiff_precision_name(skiff_precision_t p)
{
    switch (p) {
    case SKIFF_PRECISION_FP32: return "fp32";
    case SKIFF_PRECISION_BF16: return "bf16";
    case SKIFF_PRECISION_INT8: return "int8";
    }
    return "unknown";
}

bool skiff_precision_parse(const char *s, skiff_precision_t *out)
{
    static const struct {
        const char *name;
        skiff_precision_t p;
    } names[] = {{"fp32", SKIFF_PRECISION_FP32},
                 {"float32", SKIFF_PRECISION_FP32},
                 {"bf16", SKIFF_PRECISION_BF16},
                 {"bfloat16", SKIFF_PRECISION_BF16},
                 {"int8", SKIFF_PRECISION_INT8}};
    for (size_t i = 0; s && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].p;
            return true;
        }
    return false;
}

skiff_precision_t skiff_model_precision(const skiff_model_t *model)
{
    return model ? model->precision : SKIFF_PRECISION_FP32;
}

int skiff_model_reduced_nodes(const skiff_model_t *model) { return model ? model->n_reduced : 0; }

void skiff_model_weight_stats(const skiff_model_t *model, size_t *out_constant, size_t *out_packed)
{
    size_t constant = 0, packed = 0;
    const skiff__graph *g = model ? model->g : NULL;
    for (int i = 0; g && i < g->n_values; i++) {
        const skiff_tensor_t *t = g->values[i].constant;
        if (t && t->data)
            constant += t->nbytes;
    }
    for (int i = 0; g && i < g->n_nodes; i++) {
        const skiff__node *n = &g->nodes[i];
        if (n->dead || !n->op || !n->op->prep_bytes || !n->prep)
            continue;
        size_t source = 0;
        packed += n->op->prep_bytes(n->prep, &source);
        constant += source;
    }
    if (out_constant)
        *out_constant = constant;
    if (out_packed)
        *out_packed = packed;
}

static skiff_status_t *model_from_graph(skiff__graph *g, const skiff_model_options_t *opts,
                                        skiff_model_t **out_model);

skiff_status_t *skiff__compile_subgraphs(skiff__graph *g, const skiff_model_options_t *opts)
{
    skiff_model_options_t so = {.optimize = 1};
    if (opts)
        so = *opts;
    so.verbose = 0;
    /* loop and branch bodies run fp32: the int8 pass and bf16 plan are the
     * main graph's (and their notes would repeat per body) */
    so.precision = SKIFF_PRECISION_FP32;
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        for (int a = 0; a < n->n_attrs; a++) {
            skiff__attr *at = &n->attrs[a];
            if (!at->g)
                continue;
            skiff__graph *sg = at->g;
            at->g = NULL; /* model_from_graph owns it, even when it fails */
            skiff_status_t *st = model_from_graph(sg, &so, &at->sub);
            if (st)
                return skiff_status_wrap(st, "node '%s' (%s): subgraph '%s'", n->name, n->op_type,
                                         at->name);
        }
    }
    return NULL;
}

static skiff_status_t *model_from_graph(skiff__graph *g, const skiff_model_options_t *opts,
                                        skiff_model_t **out_model)
{
    skiff_model_t *m = skiff__calloc(1, sizeof(*m));
    if (!m) {
        skiff__graph_free(g);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    m->g = g;
    skiff_status_t *st = NULL;
    int optimize = opts ? opts->optimize : 1;
    int verbose = opts ? opts->verbose : 1;
    int before = 0;
    for (int i = 0; i < g->n_nodes; i++)
        before += !g->nodes[i].dead;
    skiff__pass_stats ps = {0};
    /* Subgraphs first, innermost first: folding may run a node with
     * subgraphs, which runs them compiled. */
    st = skiff__compile_subgraphs(g, opts);
    if (st) {
        skiff_model_free(m);
        return st;
    }
    st = settle_precision(m, opts ? opts->precision : SKIFF_PRECISION_FP32);
    if (!st && m->precision == SKIFF_PRECISION_INT8 && !optimize)
        m->precision = SKIFF_PRECISION_FP32; /* the int8 pass is a graph pass */
    if (!st && optimize) {
        st = skiff__graph_optimize(g, m->precision == SKIFF_PRECISION_INT8, &ps);
        if (!st && verbose)
            skiff_log(
                SKIFF_LOG_INFO,
                "graph passes: %d identity removed, %d folded, %d dead, %d conv biases "
                "folded, %d batchnorm folded, %d scalings folded, %d activations fused, %d sums "
                "fused, %d gelu, %d layernorm, %d hardswish",
                ps.removed_identity, ps.folded, ps.dead, ps.bias_folded, ps.bn_folded,
                ps.scale_folded, ps.act_fused, ps.sum_fused, ps.gelu_fused, ps.ln_fused,
                ps.hardswish_fused);
    }
    if (!st && !skiff__plan_layouts(g))
        st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory planning layouts");
    if (!st)
        st = plan_precision(m, &ps, verbose);
    if (!st) {
        /* the kernels' prepare reads who else uses a constant (a store
         * takes over weights only its node reads) */
        skiff__graph_recount(g);
        st = prepare_nodes(g);
    }
    if (!st) {
        m->order = skiff__malloc(sizeof(int) * (size_t)(g->n_nodes + 1));
        m->in_info = skiff__calloc((size_t)g->n_inputs + 1, sizeof(*m->in_info));
        m->in_check = skiff__calloc((size_t)g->n_inputs + 1, sizeof(*m->in_check));
        m->out_info = skiff__calloc((size_t)g->n_outputs + 1, sizeof(*m->out_info));
        if (!m->order || !m->in_info || !m->in_check || !m->out_info)
            st = skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (st) {
        skiff_model_free(m);
        return st;
    }
    for (int i = 0; i < g->n_nodes; i++)
        if (!g->nodes[i].dead)
            m->order[m->n_order++] = i;
    if ((st = mark_shape_nodes(m))) {
        skiff_model_free(m);
        return st;
    }
    for (int i = 0; i < g->n_inputs; i++) {
        const skiff__value *v = &g->values[g->inputs[i]];
        fill_info(v, &m->in_check[i]);
        /* A subgraph's inputs are checked for their type only: exporters
         * declare a loop's carried values with the shape of one
         * iteration. */
        if (g->is_sub)
            m->in_check[i].ndim = -1;
        m->in_info[i] = m->in_check[i];
        for (int d = 0; v->hinted && d < v->ndim; d++)
            m->in_info[i].dims[d] = v->hint[d];
    }
    for (int i = 0; i < g->n_outputs; i++)
        fill_info(&g->values[g->outputs[i]], &m->out_info[i]);
    if (verbose)
        skiff_log(SKIFF_LOG_INFO,
                  "model '%s': opset %d, %d nodes (%d before passes), %d inputs, "
                  "%d outputs",
                  g->name, g->opset, m->n_order, before, g->n_inputs, g->n_outputs);
    *out_model = m;
    return NULL;
}

skiff_status_t *skiff_model_load_buffer(const void *data, size_t size, const char *base_dir,
                                        const skiff_model_options_t *opts,
                                        skiff_model_t **out_model)
{
    skiff__graph *g;
    skiff_status_t *st = skiff__onnx_parse(data, size, base_dir, false, &g);
    if (st)
        return st;
    return model_from_graph(g, opts, out_model);
}

/* A path naming a Paddle program file: __model__, *.pdmodel or (PIR) *.json. */
static bool paddle_program_file(const char *path)
{
    size_t n = strlen(path);
    return (n >= 9 && !strcmp(path + n - 9, "__model__")) ||
           (n >= 8 && !strcmp(path + n - 8, ".pdmodel")) ||
           (n >= 5 && !strcmp(path + n - 5, ".json"));
}

/* A Paddle model at path (its directory, or its program file): *out true and
 * the graph parsed, or *out false when path is no Paddle model. */
static skiff_status_t *try_paddle(const char *path, bool *out, skiff__graph **g)
{
    char model[4096], params[4096], dir[4096];
    struct stat sb;
    *out = false;
    if (stat(path, &sb) != 0)
        return NULL;
    if (S_ISDIR(sb.st_mode)) {
        snprintf(dir, sizeof(dir), "%s", path);
        if (!skiff__paddle_find(dir, model, sizeof(model), params, sizeof(params)))
            return skiff_status_new(
                SKIFF_CODE_INVALID_ARG,
                "'%s' is a directory without a model: expected an .onnx file, "
                "or a Paddle model (__model__, inference.pdmodel, inference.json)",
                path);
    } else {
        size_t n = strlen(path);
        if (!paddle_program_file(path))
            return NULL;
        snprintf(dir, sizeof(dir), "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof(dir), ".");
        snprintf(model, sizeof(model), "%s", path);
        params[0] = '\0';
        if (n >= 8 && !strcmp(path + n - 8, ".pdmodel"))
            snprintf(params, sizeof(params), "%.*s.pdiparams", (int)(n - 8), path);
        else if (n >= 5 && !strcmp(path + n - 5, ".json"))
            snprintf(params, sizeof(params), "%.*s.pdiparams", (int)(n - 5), path);
        else {
            char alt[4200];
            snprintf(alt, sizeof(alt), "%s/__params__", dir);
            if (stat(alt, &sb) == 0)
                snprintf(params, sizeof(params), "%.4095s", alt);
        }
    }
    *out = true;
    return skiff__paddle_parse(dir, model, params, g);
}

bool skiff_model_is_paddle(const char *path)
{
    char model[4096], params[4096];
    struct stat sb;
    if (stat(path, &sb) != 0)
        return false;
    if (S_ISDIR(sb.st_mode))
        return skiff__paddle_find(path, model, sizeof(model), params, sizeof(params));
    return paddle_program_file(path);
}

/* A directory's model under the names the options give: an ONNX file
 * (.onnx), else a Paddle program with its combined parameters (or one file
 * per parameter). */
static skiff_status_t *load_named(const char *dir, const skiff_model_options_t *opts,
                                  skiff_model_t **out_model)
{
    char model[4096], params[4096];
    struct stat sb;
    size_t n = strlen(opts->model_filename);
    if (snprintf(model, sizeof(model), "%s/%s", dir, opts->model_filename) >= (int)sizeof(model))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "model path too long");
    if (stat(model, &sb) != 0 || !S_ISREG(sb.st_mode))
        return skiff_status_new(SKIFF_CODE_NOT_FOUND,
                                "model directory '%s' has no file '%s' (--model_filename)", dir,
                                opts->model_filename);
    if (n >= 5 && !strcmp(opts->model_filename + n - 5, ".onnx")) {
        skiff_model_options_t o = *opts;
        o.model_filename = o.params_filename = NULL;
        return skiff_model_load(model, &o, out_model);
    }
    params[0] = '\0';
    if (opts->params_filename && opts->params_filename[0]) {
        snprintf(params, sizeof(params), "%s/%s", dir, opts->params_filename);
        if (stat(params, &sb) != 0 || !S_ISREG(sb.st_mode))
            return skiff_status_new(SKIFF_CODE_NOT_FOUND,
                                    "model directory '%s' has no file '%s' (--params_filename)",
                                    dir, opts->params_filename);
    }
    skiff__graph *g = NULL;
    skiff_status_t *st = skiff__paddle_parse(dir, model, params, &g);
    return st ? st : model_from_graph(g, opts, out_model);
}

skiff_status_t *skiff_model_load(const char *path, const skiff_model_options_t *opts,
                                 skiff_model_t **out_model)
{
    bool paddle;
    skiff__graph *g = NULL;
    struct stat sb;
    if (opts && opts->model_filename && opts->model_filename[0] && stat(path, &sb) == 0 &&
        S_ISDIR(sb.st_mode))
        return load_named(path, opts, out_model);
    skiff_status_t *st = try_paddle(path, &paddle, &g);
    if (paddle || st)
        return st ? st : model_from_graph(g, opts, out_model);
    const void *buf;
    size_t size;
    st = skiff__map_file(path, &buf, &size);
    if (st)
        return st;
    char *dir = skiff__strdup(path);
    if (!dir) {
        skiff__unmap_file(buf, size);
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    /* the loader drops the mapping's pages of each weight it has decoded,
     * and the passes run with the file unmapped */
    st = skiff__onnx_parse(buf, size, slash ? dir : ".", true, &g);
    skiff__unmap_file(buf, size);
    if (!st)
        st = model_from_graph(g, opts, out_model);
    skiff__free(dir);
    return skiff_status_wrap(st, "loading '%s'", path);
}

void skiff_model_free(skiff_model_t *m)
{
    if (!m)
        return;
    skiff__graph_free(m->g);
    skiff__free(m->order);
    skiff__free(m->shape_kind);
    skiff__free(m->in_info);
    skiff__free(m->in_check);
    skiff__free(m->out_info);
    skiff__free(m);
}

int skiff_model_external_file_count(const skiff_model_t *m) { return m->g->n_ext_files; }

const char *skiff_model_paddle_program(const skiff_model_t *m) { return m->g->paddle_program; }

const char *skiff_model_external_file(const skiff_model_t *m, int i)
{
    return i >= 0 && i < m->g->n_ext_files ? m->g->ext_files[i] : NULL;
}

int skiff_model_input_count(const skiff_model_t *m) { return m->g->n_inputs; }
int skiff_model_output_count(const skiff_model_t *m) { return m->g->n_outputs; }

const skiff_value_info_t *skiff_model_input(const skiff_model_t *m, int i)
{
    return i >= 0 && i < m->g->n_inputs ? &m->in_info[i] : NULL;
}

const skiff_value_info_t *skiff_model_output(const skiff_model_t *m, int i)
{
    return i >= 0 && i < m->g->n_outputs ? &m->out_info[i] : NULL;
}

int skiff_model_input_index(const skiff_model_t *m, const char *name)
{
    for (int i = 0; i < m->g->n_inputs; i++)
        if (strcmp(m->in_info[i].name, name) == 0)
            return i;
    return -1;
}

int skiff_model_output_index(const skiff_model_t *m, const char *name)
{
    for (int i = 0; i < m->g->n_outputs; i++)
        if (strcmp(m->out_info[i].name, name) == 0)
            return i;
    return -1;
}

int skiff__model_cl_values(const skiff_model_t *m)
{
    int n = 0;
    for (int i = 0; i < m->g->n_nodes; i++)
        n += !m->g->nodes[i].dead && m->g->nodes[i].y_cl;
    return n;
}
