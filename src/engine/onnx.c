/* onnx.c - ONNX model loader.
 *
 * The protobuf is decoded with protobuf-c code generated at build time from
 * Debian's onnx.proto. Decoding goes through our allocator (so allocation
 * failure injection reaches it), and initializer raw_data buffers are stolen
 * from the decoded message rather than copied: the file is read once and each
 * weight is copied once, by the decoder. The result is a skiff__graph with
 * values, constants and nodes in topological order. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "engine_int.h"
#include "onnx.pb-c.h"

static void *pb_alloc(void *data, size_t size) { return skiff__malloc(size); }
static void pb_free(void *data, void *p) { skiff__free(p); }
static ProtobufCAllocator pb_allocator = {pb_alloc, pb_free, NULL};

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory loading model")

/* ---- tensors ---- */

/* Reads and checks a tensor's external data fields and resolves the file's
 * path; fails when the file cannot hold nbytes at the offset, so nothing is
 * allocated for data that is not there. */
static skiff_status_t *external_path(const Onnx__TensorProto *tp, const char *base_dir,
                                     size_t nbytes, char *path, size_t cap, int64_t *out_offset)
{
    const char *location = NULL;
    int64_t offset = 0, length = -1;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *kv = tp->external_data[i];
        if (!kv->key || !kv->value)
            continue;
        if (strcmp(kv->key, "location") == 0)
            location = kv->value;
        else if (strcmp(kv->key, "offset") == 0 && !skiff__parse_i64(kv->value, &offset))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "bad external data offset '%s'",
                                    kv->value);
        else if (strcmp(kv->key, "length") == 0 && !skiff__parse_i64(kv->value, &length))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "bad external data length '%s'",
                                    kv->value);
    }
    if (!location || !*location)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "external data without a location");
    if (!base_dir)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "external data '%s' but the model was loaded from memory",
                                location);
    if (location[0] == '/' || strstr(location, ".."))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "external data location '%s' must be a relative path inside the "
                                "model directory",
                                location);
    if (offset < 0 || (length >= 0 && (uint64_t)length != nbytes))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "external data '%s': length %lld does not match the tensor's %zu "
                                "bytes",
                                location, (long long)length, nbytes);
    if (snprintf(path, cap, "%s/%s", base_dir, location) >= (int)cap)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "external data path too long");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return skiff_status_new(SKIFF_CODE_NOT_FOUND, "cannot open external data file '%s'", path);
    if ((uint64_t)sb.st_size < (uint64_t)offset + nbytes)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "external data file '%s' is too short: need %zu bytes at offset "
                                "%lld",
                                path, nbytes, (long long)offset);
    *out_offset = offset;
    return NULL;
}

/* Remembers the file of an external-data tensor (once per file), so that
 * tools copying a model (skiff convert) can copy its data files too. */
static skiff_status_t *note_external_file(skiff__graph *g, const Onnx__TensorProto *tp)
{
    if (!tp->has_data_location || tp->data_location != ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return NULL;
    const char *loc = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++)
        if (tp->external_data[i]->key && !strcmp(tp->external_data[i]->key, "location"))
            loc = tp->external_data[i]->value;
    if (!loc)
        return NULL;
    for (int i = 0; i < g->n_ext_files; i++)
        if (!strcmp(g->ext_files[i], loc))
            return NULL;
    char **nf = skiff__realloc(g->ext_files, sizeof(char *) * (size_t)(g->n_ext_files + 1));
    if (!nf)
        return OOM();
    g->ext_files = nf;
    if (!(g->ext_files[g->n_ext_files] = skiff__strdup(loc)))
        return OOM();
    g->n_ext_files++;
    return NULL;
}

static skiff_status_t *read_external(const char *path, int64_t offset, void *dst, size_t nbytes)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return skiff_status_new(SKIFF_CODE_NOT_FOUND, "cannot open external data file '%s'", path);
    size_t got = 0;
    if (fseeko(f, (off_t)offset, SEEK_SET) == 0)
        got = fread(dst, 1, nbytes, f);
    fclose(f);
    if (got != nbytes)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "external data file '%s' is too short: need %zu bytes at offset "
                                "%lld",
                                path, nbytes, (long long)offset);
    return NULL;
}

/* Elements the proto's inline data holds for this type, in the field the
 * type uses (raw_data counts bytes / element size). */
static size_t inline_count(const Onnx__TensorProto *tp, skiff_dtype_t dt, size_t es)
{
    if (dt == SKIFF_DTYPE_STRING)
        return tp->n_string_data;
    if (tp->has_raw_data)
        return tp->raw_data.len % es ? (size_t)-1 : tp->raw_data.len / es;
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32: return tp->n_float_data;
    case SKIFF_DTYPE_FLOAT64: return tp->n_double_data;
    case SKIFF_DTYPE_INT64: return tp->n_int64_data;
    case SKIFF_DTYPE_UINT32:
    case SKIFF_DTYPE_UINT64: return tp->n_uint64_data;
    default: return tp->n_int32_data;
    }
}

/* Converts a TensorProto. When `steal` is set the raw_data buffer is moved
 * into the tensor instead of copied (the proto must be freed afterwards). */
static skiff_status_t *tensor_from_proto(Onnx__TensorProto *tp, const char *base_dir, bool steal,
                                         skiff_tensor_t **out)
{
    const char *nm = tp->name ? tp->name : "";
    skiff_dtype_t dt = (skiff_dtype_t)tp->data_type;
    size_t es = skiff_dtype_size(dt);
    if (es == 0)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "tensor '%s': unsupported data type %d", nm,
                                tp->data_type);
    if (tp->n_dims > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "tensor '%s': rank %zu exceeds %d", nm,
                                tp->n_dims, SKIFF_MAX_DIMS);
    int64_t n = skiff_shape_numel((int)tp->n_dims, tp->dims);
    size_t nbytes;
    if (n < 0 || !skiff__mul_size((size_t)n, es, &nbytes) || nbytes > ((size_t)1 << 38))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "tensor '%s': invalid dims", nm);
    size_t un = (size_t)n;

    if (steal && dt != SKIFF_DTYPE_STRING && tp->has_raw_data && tp->raw_data.len == nbytes &&
        nbytes > 0 && ((uintptr_t)tp->raw_data.data & 15) == 0) {
        skiff_tensor_t *t = skiff__calloc(1, sizeof(*t));
        if (!t)
            return OOM();
        t->dtype = dt;
        t->ndim = (int)tp->n_dims;
        for (int i = 0; i < t->ndim; i++)
            t->dims[i] = tp->dims[i];
        t->data = tp->raw_data.data;
        t->nbytes = nbytes;
        t->flags = SKIFF_TENSOR_OWNS_DATA;
        tp->raw_data.data = NULL;
        tp->raw_data.len = 0;
        *out = t;
        return NULL;
    }

    skiff_tensor_t *t;
    skiff_status_t *st;
    bool external =
        tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    char ext_path[PATH_MAX];
    int64_t ext_offset = 0;
    /* Check that the data is there before allocating for it: a small file
     * must not make us allocate for the dims it claims. */
    if (external) {
        if (dt == SKIFF_DTYPE_STRING)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "tensor '%s': external string data",
                                    nm);
        st = external_path(tp, base_dir, nbytes, ext_path, sizeof(ext_path), &ext_offset);
        if (st)
            return skiff_status_wrap(st, "tensor '%s'", nm);
    } else if (inline_count(tp, dt, es) != un) {
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "tensor '%s': data does not match its dims (%lld elements of %s)",
                                nm, (long long)n, skiff_dtype_name(dt));
    }
    st = skiff_tensor_new(dt, (int)tp->n_dims, tp->dims, &t);
    if (st)
        return skiff_status_wrap(st, "tensor '%s'", nm);
    if (external) {
        st = read_external(ext_path, ext_offset, t->data, nbytes);
        if (st) {
            skiff_tensor_free(t);
            return skiff_status_wrap(st, "tensor '%s'", nm);
        }
        *out = t;
        return NULL;
    }
    if (dt == SKIFF_DTYPE_STRING) {
        if (tp->n_string_data != un)
            goto count_mismatch;
        char **s = t->data;
        for (size_t i = 0; i < un; i++) {
            s[i] = skiff__strndup((const char *)tp->string_data[i].data, tp->string_data[i].len);
            if (!s[i]) {
                skiff_tensor_free(t);
                return OOM();
            }
        }
        *out = t;
        return NULL;
    }
    if (tp->has_raw_data) {
        if (tp->raw_data.len != nbytes)
            goto count_mismatch;
        if (nbytes)
            memcpy(t->data, tp->raw_data.data, nbytes);
        *out = t;
        return NULL;
    }
    switch (dt) {
    case SKIFF_DTYPE_FLOAT32:
        if (tp->n_float_data != un)
            goto count_mismatch;
        if (un)
            memcpy(t->data, tp->float_data, nbytes);
        break;
    case SKIFF_DTYPE_FLOAT64:
        if (tp->n_double_data != un)
            goto count_mismatch;
        if (un)
            memcpy(t->data, tp->double_data, nbytes);
        break;
    case SKIFF_DTYPE_INT64:
        if (tp->n_int64_data != un)
            goto count_mismatch;
        if (un)
            memcpy(t->data, tp->int64_data, nbytes);
        break;
    case SKIFF_DTYPE_UINT32:
    case SKIFF_DTYPE_UINT64:
        if (tp->n_uint64_data != un)
            goto count_mismatch;
        for (size_t i = 0; i < un; i++) {
            if (dt == SKIFF_DTYPE_UINT32)
                ((uint32_t *)t->data)[i] = (uint32_t)tp->uint64_data[i];
            else
                ((uint64_t *)t->data)[i] = tp->uint64_data[i];
        }
        break;
    default: /* int32-carried types: int32 int16 int8 uint16 uint8 bool f16 bf16 */
        if (tp->n_int32_data != un)
            goto count_mismatch;
        for (size_t i = 0; i < un; i++) {
            int32_t v = tp->int32_data[i];
            switch (es) {
            case 1: ((uint8_t *)t->data)[i] = (uint8_t)(dt == SKIFF_DTYPE_BOOL ? v != 0 : v); break;
            case 2: ((uint16_t *)t->data)[i] = (uint16_t)v; break;
            default: ((int32_t *)t->data)[i] = v; break;
            }
        }
        break;
    }
    *out = t;
    return NULL;

count_mismatch:
    skiff_tensor_free(t);
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "tensor '%s': data does not match its dims (%lld elements of %s)", nm,
                            (long long)n, skiff_dtype_name(dt));
}

skiff_status_t *skiff__onnx_read_tensor(const void *data, size_t size, skiff_tensor_t **out_tensor,
                                        char **out_name)
{
    Onnx__TensorProto *tp = onnx__tensor_proto__unpack(&pb_allocator, size, data);
    if (!tp)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "not a valid ONNX TensorProto");
    skiff_status_t *st = tensor_from_proto(tp, NULL, true, out_tensor);
    if (!st && out_name) {
        *out_name = skiff__strdup(tp->name ? tp->name : "");
        if (!*out_name) {
            skiff_tensor_free(*out_tensor);
            *out_tensor = NULL;
            st = OOM();
        }
    }
    onnx__tensor_proto__free_unpacked(tp, &pb_allocator);
    return st;
}

/* ---- graph ---- */

static skiff_status_t *value_info(skiff__graph *g, const Onnx__ValueInfoProto *vi, int *out_index)
{
    if (!vi->name || !vi->name[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "graph input/output without a name");
    int idx = skiff__graph_find_value(g, vi->name);
    if (idx < 0)
        idx = skiff__graph_add_value(g, vi->name);
    if (idx < 0)
        return OOM();
    skiff__value *v = &g->values[idx];
    const Onnx__TypeProto *tp = vi->type;
    if (tp && tp->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && tp->tensor_type) {
        v->dtype = (skiff_dtype_t)tp->tensor_type->elem_type;
        const Onnx__TensorShapeProto *sh = tp->tensor_type->shape;
        if (sh) {
            if (sh->n_dim > SKIFF_MAX_DIMS)
                return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "value '%s': rank %zu exceeds %d",
                                        vi->name, sh->n_dim, SKIFF_MAX_DIMS);
            v->ndim = (int)sh->n_dim;
            for (size_t i = 0; i < sh->n_dim; i++) {
                const Onnx__TensorShapeProto__Dimension *d = sh->dim[i];
                v->dims[i] =
                    d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE &&
                            d->dim_value >= 0
                        ? d->dim_value
                        : -1;
            }
        }
    } else if (tp && tp->value_case != ONNX__TYPE_PROTO__VALUE__NOT_SET && !g->is_sub) {
        return skiff_status_new(
            SKIFF_CODE_UNSUPPORTED,
            "value '%s': only tensor types are supported (sequence/map/optional "
            "are not)",
            vi->name);
    }
    *out_index = idx;
    return NULL;
}

static skiff_status_t *parse_subgraph(const Onnx__GraphProto *gp, skiff__graph *outer, int opset,
                                      skiff__graph **out);

/* Copies one attribute; a graph attribute is parsed as a subgraph of g. */
static skiff_status_t *copy_attr(skiff__graph *g, skiff__attr *a, const Onnx__AttributeProto *ap)
{
    a->name = skiff__strdup(ap->name ? ap->name : "");
    if (!a->name)
        return OOM();
    int type = ap->type;
    /* Very old exporters leave `type` unset; infer it from what is filled. */
    if (type == 0) {
        if (ap->n_ints)
            type = SKIFF_ATTR_INTS;
        else if (ap->n_floats)
            type = SKIFF_ATTR_FLOATS;
        else if (ap->n_strings)
            type = SKIFF_ATTR_STRINGS;
        else if (ap->t)
            type = SKIFF_ATTR_TENSOR;
        else if (ap->has_s)
            type = SKIFF_ATTR_STRING;
        else if (ap->has_f)
            type = SKIFF_ATTR_FLOAT;
        else if (ap->g)
            type = SKIFF_ATTR_GRAPH;
        else if (ap->has_i)
            type = SKIFF_ATTR_INT;
    }
    a->type = (skiff__attr_type)type;
    switch (type) {
    case SKIFF_ATTR_FLOAT: a->f = ap->f; break;
    case SKIFF_ATTR_INT: a->i = ap->i; break;
    case SKIFF_ATTR_STRING:
        a->s = skiff__strndup((const char *)ap->s.data, ap->s.len);
        a->s_len = ap->s.len;
        if (!a->s)
            return OOM();
        break;
    case SKIFF_ATTR_TENSOR:
        if (!ap->t)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute '%s' has no tensor",
                                    a->name);
        return tensor_from_proto(ap->t, NULL, false, &a->t);
    case SKIFF_ATTR_FLOATS:
        a->n = (int)ap->n_floats;
        a->floats = skiff__malloc(sizeof(float) * (ap->n_floats + 1));
        if (!a->floats)
            return OOM();
        if (ap->n_floats)
            memcpy(a->floats, ap->floats, sizeof(float) * ap->n_floats);
        break;
    case SKIFF_ATTR_INTS:
        a->n = (int)ap->n_ints;
        a->ints = skiff__malloc(sizeof(int64_t) * (ap->n_ints + 1));
        if (!a->ints)
            return OOM();
        if (ap->n_ints)
            memcpy(a->ints, ap->ints, sizeof(int64_t) * ap->n_ints);
        break;
    case SKIFF_ATTR_STRINGS:
        a->strings = skiff__calloc(ap->n_strings + 1, sizeof(char *));
        if (!a->strings)
            return OOM();
        for (size_t i = 0; i < ap->n_strings; i++) {
            a->strings[i] = skiff__strndup((const char *)ap->strings[i].data, ap->strings[i].len);
            if (!a->strings[i])
                return OOM();
            a->n = (int)i + 1;
        }
        break;
    case SKIFF_ATTR_GRAPH:
        if (!ap->g)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute '%s' has no graph", a->name);
        return skiff_status_wrap(parse_subgraph(ap->g, g, g->opset, &a->g), "subgraph '%s'",
                                 a->name);
    case 13: /* TYPE_PROTO, TYPE_PROTOS (Optional's `type`): no kernel reads them */
    case 14: break;
    default:
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "attribute '%s' has unsupported type %d",
                                a->name, type);
    }
    return NULL;
}

/* Builds a constant tensor from a Constant node's attribute. */
static skiff_status_t *constant_value(const skiff__node *n, skiff_tensor_t **out)
{
    if (n->n_attrs != 1)
        return skiff__node_err(n, SKIFF_CODE_INVALID_ARG, "expected exactly one value attribute");
    const skiff__attr *a = &n->attrs[0];
    skiff_status_t *st;
    if (strcmp(a->name, "value") == 0 && a->type == SKIFF_ATTR_TENSOR)
        return skiff_tensor_clone(a->t, out);
    if (strcmp(a->name, "value_float") == 0 && a->type == SKIFF_ATTR_FLOAT) {
        st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 0, NULL, out);
        if (!st)
            *(float *)(*out)->data = a->f;
        return st;
    }
    if (strcmp(a->name, "value_int") == 0 && a->type == SKIFF_ATTR_INT) {
        st = skiff_tensor_new(SKIFF_DTYPE_INT64, 0, NULL, out);
        if (!st)
            *(int64_t *)(*out)->data = a->i;
        return st;
    }
    if (strcmp(a->name, "value_floats") == 0 && a->type == SKIFF_ATTR_FLOATS) {
        int64_t d = a->n;
        st = skiff_tensor_new(SKIFF_DTYPE_FLOAT32, 1, &d, out);
        if (!st && a->n)
            memcpy((*out)->data, a->floats, sizeof(float) * (size_t)a->n);
        return st;
    }
    if (strcmp(a->name, "value_ints") == 0 && a->type == SKIFF_ATTR_INTS) {
        int64_t d = a->n;
        st = skiff_tensor_new(SKIFF_DTYPE_INT64, 1, &d, out);
        if (!st && a->n)
            memcpy((*out)->data, a->ints, sizeof(int64_t) * (size_t)a->n);
        return st;
    }
    if (strcmp(a->name, "value_string") == 0 && a->type == SKIFF_ATTR_STRING) {
        st = skiff_tensor_new(SKIFF_DTYPE_STRING, 0, NULL, out);
        if (!st) {
            char **s = (*out)->data;
            s[0] = skiff__strdup(a->s);
            if (!s[0]) {
                skiff_tensor_free(*out);
                return OOM();
            }
        }
        return st;
    }
    if (strcmp(a->name, "value_strings") == 0 && a->type == SKIFF_ATTR_STRINGS) {
        int64_t d = a->n;
        st = skiff_tensor_new(SKIFF_DTYPE_STRING, 1, &d, out);
        for (int i = 0; !st && i < a->n; i++) {
            char **s = (*out)->data;
            s[i] = skiff__strdup(a->strings[i]);
            if (!s[i]) {
                skiff_tensor_free(*out);
                return OOM();
            }
        }
        return st;
    }
    return skiff__node_err(n, SKIFF_CODE_UNSUPPORTED, "unsupported value attribute '%s'", a->name);
}

/* ---- scopes ----
 * A subgraph (If's branches, Loop's and Scan's body) may read any value of
 * the graphs around it by name. The parser resolves such a name through the
 * enclosing graphs and makes it an input of the subgraph (captured[] says
 * whose), and of every graph in between; the node holding the subgraph gets
 * the enclosing value as an extra, implicit input (node->n_implicit). */

/* Whether name is defined in g or a graph around it (nothing is added). */
static bool scope_has(const skiff__graph *g, const char *name)
{
    for (; g; g = g->outer)
        if (skiff__graph_find_value(g, name) >= 0)
            return true;
    return false;
}

/* The value `name` in g: its own, or one of an enclosing graph captured as an
 * input of g (and of every graph in between). -1 when no graph defines it,
 * -2 when out of memory. */
static int resolve(skiff__graph *g, const char *name)
{
    int v = skiff__graph_find_value(g, name);
    if (v >= 0 || !g->outer)
        return v;
    int ov = resolve(g->outer, name);
    if (ov < 0)
        return ov;
    int n_cap = g->n_inputs - g->n_formal;
    int *ni = skiff__realloc(g->inputs, sizeof(int) * (size_t)(g->n_inputs + 1));
    if (ni)
        g->inputs = ni;
    int *nc = ni ? skiff__realloc(g->captured, sizeof(int) * (size_t)(n_cap + 1)) : NULL;
    if (nc)
        g->captured = nc;
    v = nc ? skiff__graph_add_value(g, name) : -1;
    if (v < 0)
        return -2;
    g->values[v].is_input = true;
    g->inputs[g->n_inputs++] = v;
    g->captured[n_cap] = ov;
    return v;
}

/* Makes the values subgraph `sub` captured implicit inputs of node n (in
 * graph g), once each, and records which input feeds each (a->sub_in). */
static skiff_status_t *add_implicit_inputs(skiff__node *n, skiff__attr *a)
{
    const skiff__graph *sub = a->g;
    int n_cap = sub->n_inputs - sub->n_formal;
    a->sub_in = skiff__malloc(sizeof(int) * (size_t)(n_cap + 1));
    int *in = skiff__realloc(n->in, sizeof(int) * (size_t)(n->n_in + n_cap + 1));
    if (in)
        n->in = in;
    if (!a->sub_in || !in)
        return OOM();
    for (int j = 0; j < n_cap; j++) {
        int ov = sub->captured[j], k = n->n_in - n->n_implicit;
        while (k < n->n_in && n->in[k] != ov)
            k++;
        if (k == n->n_in) {
            n->in[n->n_in++] = ov;
            n->n_implicit++;
        }
        a->sub_in[j] = k;
    }
    return NULL;
}

static skiff_status_t *add_node(skiff__graph *g, const Onnx__NodeProto *np, int opset, int index)
{
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? g->cap_nodes * 2 : 64;
        skiff__node *nn = skiff__realloc(g->nodes, sizeof(*nn) * (size_t)cap);
        if (!nn)
            return OOM();
        g->nodes = nn;
        g->cap_nodes = cap;
    }
    int ni = g->n_nodes;
    skiff__node *n = &g->nodes[ni];
    memset(n, 0, sizeof(*n));
    n->sum_input = -1;
    g->n_nodes++;
    char fallback[32];
    snprintf(fallback, sizeof(fallback), "#%d", index);
    n->name = skiff__strdup(np->name && np->name[0] ? np->name : fallback);
    n->op_type = skiff__strdup(np->op_type ? np->op_type : "");
    n->domain = skiff__strdup(np->domain ? np->domain : "");
    n->opset = opset;
    n->in = skiff__malloc(sizeof(int) * (np->n_input + 1));
    n->out = skiff__malloc(sizeof(int) * (np->n_output + 1));
    n->attrs = skiff__calloc(np->n_attribute + 1, sizeof(skiff__attr));
    if (!n->name || !n->op_type || !n->domain || !n->in || !n->out || !n->attrs)
        return OOM();
    if (!n->op_type[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "node '%s' has no op_type", n->name);
    for (size_t i = 0; i < np->n_input; i++) {
        const char *nm = np->input[i];
        n->n_in = (int)i + 1;
        if (!nm || !nm[0]) {
            n->in[i] = -1;
            continue;
        }
        int v = resolve(g, nm);
        if (v == -2)
            return OOM();
        if (v < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "node '%s' (%s): input '%s' is not produced by any node, "
                                    "initializer or graph input before it",
                                    n->name, n->op_type, nm);
        n->in[i] = v;
    }
    /* Subgraphs are parsed after the inputs (they may capture more values
     * of g); g->nodes does not move meanwhile, n stays valid. */
    for (size_t i = 0; i < np->n_attribute; i++) {
        n->n_attrs = (int)i + 1;
        skiff_status_t *st = copy_attr(g, &n->attrs[i], np->attribute[i]);
        if (!st && n->attrs[i].g)
            st = add_implicit_inputs(n, &n->attrs[i]);
        if (st)
            return skiff_status_wrap(st, "node '%s' (%s)", n->name, n->op_type);
    }
    for (size_t i = 0; i < np->n_output; i++) {
        const char *nm = np->output[i];
        n->n_out = (int)i + 1;
        if (!nm || !nm[0]) {
            n->out[i] = -1;
            continue;
        }
        int v = skiff__graph_find_value(g, nm);
        if (v >= 0 &&
            (g->values[v].producer >= 0 || g->values[v].constant || g->values[v].is_input))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "node '%s' (%s): output '%s' is already defined", n->name,
                                    n->op_type, nm);
        if (v < 0)
            v = skiff__graph_add_value(g, nm);
        if (v < 0)
            return OOM();
        g->values[v].producer = ni;
        n->out[i] = v;
    }
    return NULL;
}

/* The names a subgraph and the subgraphs around it (up to the graph being
 * ordered) define: a name read inside resolves to the innermost of them. */
typedef struct defs {
    const skiff__graph *set;
    const struct defs *up;
} defs;

static bool defined_in(const defs *d, const char *nm)
{
    for (; d; d = d->up)
        if (skiff__graph_find_value(d->set, nm) >= 0)
            return true;
    return false;
}

/* Adds nm to set unless it is there. */
static bool set_add(skiff__graph *set, const char *nm)
{
    return !nm || !nm[0] || skiff__graph_find_value(set, nm) >= 0 ||
           skiff__graph_add_value(set, nm) >= 0;
}

/* Adds to `set` every name a node of np's subgraphs (at any depth) reads
 * from the graph being ordered: one `outs` (the outputs of that graph's
 * nodes) has and no subgraph on the way defines. A node with subgraphs must
 * run after their producers. Stops below the nesting limit (the parser
 * refuses such a model later). */
static bool subgraph_reads(const Onnx__NodeProto *np, const skiff__graph *outs, skiff__graph *set,
                           const defs *up, int depth)
{
    if (depth > SKIFF__MAX_SUBGRAPH_DEPTH)
        return true;
    for (size_t a = 0; a < np->n_attribute; a++) {
        const Onnx__GraphProto *sg = np->attribute[a]->g;
        if (!sg)
            continue;
        skiff__graph *local = skiff__calloc(1, sizeof(*local));
        bool ok = local != NULL;
        for (size_t i = 0; ok && i < sg->n_input; i++)
            ok = set_add(local, sg->input[i]->name);
        for (size_t i = 0; ok && i < sg->n_initializer; i++)
            ok = set_add(local, sg->initializer[i]->name);
        for (size_t i = 0; ok && i < sg->n_node; i++)
            for (size_t k = 0; ok && k < sg->node[i]->n_output; k++)
                ok = set_add(local, sg->node[i]->output[k]);
        defs here = {local, up};
        for (size_t i = 0; ok && i < sg->n_node; i++) {
            const Onnx__NodeProto *sn = sg->node[i];
            for (size_t k = 0; ok && k < sn->n_input; k++) {
                const char *nm = sn->input[k];
                if (nm && nm[0] && skiff__graph_find_value(outs, nm) >= 0 && !defined_in(&here, nm))
                    ok = set_add(set, nm);
            }
            if (ok)
                ok = subgraph_reads(sn, outs, set, &here, depth + 1);
        }
        for (size_t i = 0; ok && i < sg->n_output; i++) { /* returned as they are */
            const char *nm = sg->output[i]->name;
            if (nm && nm[0] && skiff__graph_find_value(outs, nm) >= 0 && !defined_in(&here, nm))
                ok = set_add(set, nm);
        }
        skiff__graph_free(local);
        if (!ok)
            return false;
    }
    return true;
}

/* A name the node reads is available: defined in g so far, or (in a
 * subgraph) a value of an enclosing graph that no node of g defines. */
static bool available(const skiff__graph *g, const skiff__graph *outs, const char *nm)
{
    if (!nm || !nm[0] || skiff__graph_find_value(g, nm) >= 0)
        return true;
    return g->outer && outs && skiff__graph_find_value(outs, nm) < 0 && scope_has(g->outer, nm);
}

/* Orders node protos so every input is defined before use. ONNX requires
 * topological order, but some exporters do not honour it. A node with
 * subgraphs also waits for the values of g its subgraphs read. */
static skiff_status_t *topo_order(const Onnx__GraphProto *gp, skiff__graph *g, size_t *order)
{
    size_t nn = gp->n_node;
    bool *done = skiff__calloc(nn + 1, 1);
    skiff__graph **reads = skiff__calloc(nn + 1, sizeof(*reads));
    skiff__graph *outs = NULL; /* every node output name of g, as a set */
    skiff_status_t *st = NULL;
    if (!done || !reads) {
        st = OOM();
        goto out;
    }
    bool subgraphs = false;
    for (size_t i = 0; i < nn && !subgraphs; i++)
        for (size_t a = 0; a < gp->node[i]->n_attribute && !subgraphs; a++)
            subgraphs = gp->node[i]->attribute[a]->g != NULL;
    if (subgraphs || g->outer) {
        if (!(outs = skiff__calloc(1, sizeof(*outs)))) {
            st = OOM();
            goto out;
        }
        for (size_t i = 0; i < nn; i++)
            for (size_t k = 0; k < gp->node[i]->n_output; k++) {
                const char *nm = gp->node[i]->output[k];
                if (nm && nm[0] && skiff__graph_find_value(outs, nm) < 0 &&
                    skiff__graph_add_value(outs, nm) < 0) {
                    st = OOM();
                    goto out;
                }
            }
        for (size_t i = 0; subgraphs && i < nn; i++) {
            if (gp->node[i]->n_attribute == 0)
                continue;
            if (!(reads[i] = skiff__calloc(1, sizeof(*reads[i]))) ||
                !subgraph_reads(gp->node[i], outs, reads[i], NULL, g->depth + 1)) {
                st = OOM();
                goto out;
            }
        }
    }
    size_t placed = 0;
    /* Names defined so far: values already in the graph (inputs,
     * initializers) plus outputs of placed nodes. Checking by lookup keeps
     * this simple; the loop is O(n) per pass and normally needs one pass. */
    while (placed < nn) {
        size_t before = placed;
        for (size_t i = 0; i < nn; i++) {
            if (done[i])
                continue;
            const Onnx__NodeProto *np = gp->node[i];
            bool ready = true;
            for (size_t k = 0; k < np->n_input && ready; k++)
                ready = available(g, outs, np->input[k]);
            for (int k = 0; reads[i] && k < reads[i]->n_values && ready; k++)
                ready = skiff__graph_find_value(g, reads[i]->values[k].name) >= 0;
            if (!ready)
                continue;
            /* Register outputs now so later nodes see them as defined. */
            for (size_t k = 0; k < np->n_output; k++)
                if (np->output[k] && np->output[k][0] &&
                    skiff__graph_find_value(g, np->output[k]) < 0 &&
                    skiff__graph_add_value(g, np->output[k]) < 0) {
                    st = OOM();
                    goto out;
                }
            done[i] = true;
            order[placed++] = i;
        }
        if (placed == before) {
            for (size_t i = 0; i < nn; i++) {
                if (done[i])
                    continue;
                const Onnx__NodeProto *np = gp->node[i];
                for (size_t k = 0; k < np->n_input; k++)
                    if (!available(g, outs, np->input[k])) {
                        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                              "node '%s' (%s): input '%s' is never produced (or "
                                              "the graph has a cycle)",
                                              np->name ? np->name : "",
                                              np->op_type ? np->op_type : "", np->input[k]);
                        goto out;
                    }
            }
            for (size_t i = 0; i < nn; i++)
                for (int k = 0; !done[i] && reads[i] && k < reads[i]->n_values; k++)
                    if (skiff__graph_find_value(g, reads[i]->values[k].name) < 0) {
                        const Onnx__NodeProto *np = gp->node[i];
                        st = skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                              "node '%s' (%s): a subgraph reads '%s', which is not "
                                              "made before the node (the graph has a cycle)",
                                              np->name ? np->name : "",
                                              np->op_type ? np->op_type : "",
                                              reads[i]->values[k].name);
                        goto out;
                    }
            st = skiff_status_new(SKIFF_CODE_INVALID_ARG, "graph has a cycle");
            goto out;
        }
    }
out:
    for (size_t i = 0; reads && i < nn; i++)
        skiff__graph_free(reads[i]);
    skiff__free(reads);
    skiff__graph_free(outs);
    skiff__free(done);
    return st;
}

/* Fills g from gp: initializers, inputs, nodes in topological order,
 * outputs, Constant nodes as constants. g->outer is set for a subgraph. */
static skiff_status_t *build_scope(const Onnx__GraphProto *gp, const char *base_dir,
                                   skiff__graph *g)
{
    g->name = skiff__strdup(gp->name ? gp->name : "");
    if (!g->name)
        return OOM();

    skiff_status_t *st;
    /* Initializers first: they are constants. */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !tp->name[0])
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "initializer %zu has no name", i);
        if (skiff__graph_find_value(g, tp->name) >= 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "initializer '%s' defined twice",
                                    tp->name);
        int v = skiff__graph_add_value(g, tp->name);
        if (v < 0)
            return OOM();
        st = tensor_from_proto(tp, base_dir, true, &g->values[v].constant);
        if (st)
            return skiff_status_wrap(st, "initializer");
        g->values[v].dtype = g->values[v].constant->dtype;
        g->values[v].ndim = g->values[v].constant->ndim;
        memcpy(g->values[v].dims, g->values[v].constant->dims, sizeof(g->values[v].dims));
        if ((st = note_external_file(g, tp)))
            return st;
    }
    g->inputs = skiff__malloc(sizeof(int) * (gp->n_input + 1));
    g->outputs = skiff__malloc(sizeof(int) * (gp->n_output + 1));
    if (!g->inputs || !g->outputs)
        return OOM();
    for (size_t i = 0; i < gp->n_input; i++) {
        int idx = skiff__graph_find_value(g, gp->input[i]->name ? gp->input[i]->name : "");
        if (idx >= 0 && g->values[idx].constant && !g->is_sub)
            continue; /* IR < 4 lists initializers as inputs too; they stay constants */
        if (idx >= 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "graph input '%s' listed twice",
                                    gp->input[i]->name);
        st = value_info(g, gp->input[i], &idx);
        if (st)
            return st;
        g->values[idx].is_input = true;
        g->inputs[g->n_inputs++] = idx;
    }
    g->n_formal = g->n_inputs;

    size_t *order = skiff__malloc(sizeof(size_t) * (gp->n_node + 1));
    if (!order)
        return OOM();
    st = topo_order(gp, g, order);
    /* topo_order registered every node output name; add_node expects to
     * create them, so mark them as not yet produced. */
    for (size_t k = 0; !st && k < gp->n_node; k++) {
        const Onnx__NodeProto *np = gp->node[order[k]];
        int opset = g->opset;
        st = add_node(g, np, opset, (int)order[k]);
    }
    skiff__free(order);
    if (st)
        return st;

    for (size_t i = 0; i < gp->n_output; i++) {
        const char *nm = gp->output[i]->name ? gp->output[i]->name : "";
        /* a subgraph may return a value of an enclosing graph as it is */
        int idx = g->is_sub ? resolve(g, nm) : skiff__graph_find_value(g, nm);
        if (idx == -2)
            return OOM();
        if (idx < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "graph output '%s' is not produced by any node", nm);
        skiff_dtype_t known = g->values[idx].dtype;
        st = value_info(g, gp->output[i], &idx);
        if (st)
            return st;
        if (g->values[idx].dtype == SKIFF_DTYPE_UNDEFINED)
            g->values[idx].dtype = known;
        g->values[idx].is_output = true;
        g->outputs[g->n_outputs++] = idx;
    }
    if (g->n_outputs == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "graph has no outputs");

    /* Constant nodes become constant values right away. */
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (strcmp(n->op_type, "Constant") != 0 || n->domain[0] || n->n_out != 1 || n->out[0] < 0)
            continue;
        skiff__value *v = &g->values[n->out[0]];
        st = constant_value(n, &v->constant);
        if (st)
            return st;
        v->dtype = v->constant->dtype;
        v->producer = -1;
        n->dead = true;
    }
    return NULL;
}

/* A subgraph of `outer`: parsed with the same opset, its captured values
 * resolved through the enclosing graphs. Caller owns *out. */
static skiff_status_t *parse_subgraph(const Onnx__GraphProto *gp, skiff__graph *outer, int opset,
                                      skiff__graph **out)
{
    if (outer->depth + 1 > SKIFF__MAX_SUBGRAPH_DEPTH)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "subgraphs nested more than %d deep",
                                SKIFF__MAX_SUBGRAPH_DEPTH);
    skiff__graph *g = skiff__calloc(1, sizeof(*g));
    if (!g)
        return OOM();
    g->outer = outer;
    g->is_sub = true;
    g->depth = outer->depth + 1;
    g->opset = opset;
    skiff_status_t *st = build_scope(gp, NULL, g);
    g->outer = NULL;
    if (st) {
        skiff__graph_free(g);
        return st;
    }
    *out = g;
    return NULL;
}

static skiff_status_t *build_graph(Onnx__ModelProto *mp, const char *base_dir, skiff__graph *g)
{
    Onnx__GraphProto *gp = mp->graph;
    if (!gp)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "model has no graph");
    g->opset = 0;
    for (size_t i = 0; i < mp->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *os = mp->opset_import[i];
        if (!os->domain || !os->domain[0] || strcmp(os->domain, "ai.onnx") == 0)
            g->opset = (int)os->version;
    }
    if (g->opset == 0)
        g->opset = mp->n_opset_import ? 1 : 7;
    return build_scope(gp, base_dir, g);
}

/* ---- nesting ----
 * protobuf-c decodes nested messages by recursion, and ONNX's messages nest
 * without bound (a graph attribute's graph has nodes with graph attributes;
 * a sequence type's element type is a type). Before decoding, the file's
 * messages on those paths are walked without recursion into anything else,
 * so a small file nested thousands deep is refused instead of exhausting the
 * stack. Malformed bytes are left to the decoder to report. */
enum {
    PB_MODEL,
    PB_GRAPH,
    PB_NODE,
    PB_ATTR,
    PB_VINFO,
    PB_TYPE,
    PB_TYPE1,
    PB_TYPE2,
    PB_FUNC,
    PB_TRAIN,
    PB_NONE
};
#define PB_MAX_DEPTH 100

/* The message kind field `f` of a `kind` message holds, or PB_NONE. */
static int pb_child(int kind, uint64_t f)
{
    switch (kind) {
    case PB_MODEL: return f == 7 ? PB_GRAPH : f == 20 ? PB_TRAIN : f == 25 ? PB_FUNC : PB_NONE;
    case PB_TRAIN: return f == 1 || f == 2 ? PB_GRAPH : PB_NONE;
    case PB_FUNC: return f == 7 ? PB_NODE : PB_NONE;
    case PB_GRAPH: return f == 1 ? PB_NODE : f >= 11 && f <= 13 ? PB_VINFO : PB_NONE;
    case PB_NODE: return f == 5 ? PB_ATTR : PB_NONE;
    case PB_ATTR: return f == 6 || f == 11 ? PB_GRAPH : f == 14 || f == 15 ? PB_TYPE : PB_NONE;
    case PB_VINFO: return f == 2 ? PB_TYPE : PB_NONE;
    case PB_TYPE: return f == 4 || f == 9 ? PB_TYPE1 : f == 5 ? PB_TYPE2 : PB_NONE;
    case PB_TYPE1: return f == 1 ? PB_TYPE : PB_NONE;
    case PB_TYPE2: return f == 2 ? PB_TYPE : PB_NONE;
    default: return PB_NONE;
    }
}

static bool pb_varint_at(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* False when a message on the recursive paths nests deeper than
 * PB_MAX_DEPTH. An explicit stack of (end, kind) keeps it iterative. */
static bool pb_depth_ok(const uint8_t *p, size_t size)
{
    const uint8_t *end_at[PB_MAX_DEPTH + 1];
    int kind_at[PB_MAX_DEPTH + 1];
    int top = 0;
    end_at[0] = p + size;
    kind_at[0] = PB_MODEL;
    for (;;) {
        while (top > 0 && p >= end_at[top])
            top--;
        if (p >= end_at[top])
            return true;
        uint64_t key, len;
        if (!pb_varint_at(&p, end_at[top], &key))
            return true;
        switch (key & 7) {
        case 0:
            if (!pb_varint_at(&p, end_at[top], &len))
                return true;
            break;
        case 1:
        case 5: {
            size_t w = (key & 7) == 1 ? 8 : 4;
            if ((size_t)(end_at[top] - p) < w)
                return true;
            p += w;
            break;
        }
        case 2: {
            if (!pb_varint_at(&p, end_at[top], &len) || len > (uint64_t)(end_at[top] - p))
                return true;
            int child = pb_child(kind_at[top], key >> 3);
            if (child == PB_NONE) {
                p += len;
                break;
            }
            if (top == PB_MAX_DEPTH)
                return false;
            top++;
            end_at[top] = p + len;
            kind_at[top] = child;
            break;
        }
        default: return true; /* groups and the like: the decoder decides */
        }
    }
}

/* Binds g's nodes and those of its subgraphs, appending each op type
 * without a kernel to msg once. */
static void bind_rec(skiff__graph *g, char *msg, size_t cap, size_t *off, int *missing)
{
    for (int i = 0; i < g->n_nodes; i++) {
        skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int a = 0; a < n->n_attrs; a++)
            if (n->attrs[a].g)
                bind_rec(n->attrs[a].g, msg, cap, off, missing);
        n->op = skiff__op_find(n->domain, n->op_type, n->opset);
        if (n->op)
            continue;
        /* List each op type once. */
        char item[600];
        snprintf(item, sizeof(item), "%s%s%s (node", n->domain, n->domain[0] ? "." : "",
                 n->op_type);
        const char *p = msg;
        bool seen = false;
        while (!seen && (p = strstr(p, item)) != NULL) {
            seen = p == msg || (p >= msg + 2 && p[-1] == ' ' && p[-2] == ',');
            p++;
        }
        if (seen)
            continue;
        (*missing)++;
        if (*off < cap - 1)
            *off += (size_t)snprintf(msg + *off, cap - *off, "%s%s '%s', opset %d)",
                                     *missing > 1 ? ", " : "", item, n->name, n->opset);
    }
}

/* Bind each node to a kernel; report every unsupported op at once. */
skiff_status_t *skiff__graph_bind_kernels(skiff__graph *g)
{
    char msg[2048];
    size_t off = 0;
    int missing = 0;
    msg[0] = '\0';
    bind_rec(g, msg, sizeof(msg), &off, &missing);
    if (missing)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "unsupported operator%s: %s",
                                missing > 1 ? "s" : "", msg);
    return NULL;
}

/* Consumer counts of g and of its subgraphs. */
static void recount_rec(skiff__graph *g)
{
    skiff__graph_recount(g);
    for (int i = 0; i < g->n_nodes; i++)
        for (int a = 0; a < g->nodes[i].n_attrs; a++)
            if (g->nodes[i].attrs[a].g)
                recount_rec(g->nodes[i].attrs[a].g);
}

/* ---- initializers decoded one at a time ----
 * protobuf-c decodes a message whole, copying every bytes field, so a
 * model's weights were held twice until the end of the load: the file's
 * pages and the decoded copies. The graph's initializers (GraphProto field
 * 5, inside ModelProto field 7) are therefore cut out of the bytes first:
 * the rest, the skeleton (nodes, names, attributes: small), is decoded as
 * usual, then each initializer on its own, and where the bytes are skiff's
 * own mapping of the file, each one's pages are dropped once it is decoded
 * (clean pages, backed by the file). The weights are then held once during
 * the load too. Bytes this walk cannot read go to protobuf-c whole, which
 * reports them as before. */

typedef struct pb_span {
    size_t off, len;
} pb_span;

static bool pb_varint(const uint8_t *p, size_t n, size_t *pos, uint64_t *v)
{
    uint64_t r = 0;
    for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
        uint8_t b = p[(*pos)++];
        r |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Moves *pos past a field's value of wire type wt; a length-delimited
 * value's payload is [*body, *body + *len). Groups (wire types 3 and 4,
 * unused by ONNX) are refused. */
static bool pb_skip(const uint8_t *p, size_t n, size_t *pos, unsigned wt, size_t *body, size_t *len)
{
    uint64_t v;
    switch (wt) {
    case 0: return pb_varint(p, n, pos, &v);
    case 1:
    case 5: {
        size_t w = wt == 1 ? 8 : 4;
        if (n - *pos < w)
            return false;
        *pos += w;
        return true;
    }
    case 2:
        if (!pb_varint(p, n, pos, &v) || v > n - *pos)
            return false;
        *body = *pos;
        *len = (size_t)v;
        *pos += (size_t)v;
        return true;
    default: return false;
    }
}

static size_t pb_put_varint(uint8_t *o, uint64_t v)
{
    size_t k = 0;
    do {
        uint8_t b = v & 0x7f;
        v >>= 7;
        if (o)
            o[k] = b | (v ? 0x80 : 0);
        k++;
    } while (v);
    return k;
}

/* A message's bytes [off, off + len) less its fields number `field` of
 * wire type 2: copied to out (when not NULL), each cut field's payload
 * recorded in spans (when not NULL) and counted in *ns. Returns the bytes
 * kept, SIZE_MAX when malformed. */
static size_t msg_cut(const uint8_t *p, size_t off, size_t len, unsigned field, uint8_t *out,
                      pb_span *spans, size_t *ns)
{
    size_t pos = off, end = off + len, kept = 0;
    while (pos < end) {
        size_t start = pos, body = 0, blen = 0;
        uint64_t key;
        if (!pb_varint(p, end, &pos, &key) || !pb_skip(p, end, &pos, key & 7, &body, &blen))
            return SIZE_MAX;
        if ((key >> 3) == field && (key & 7) == 2) {
            if (spans)
                spans[*ns] = (pb_span){body, blen};
            (*ns)++;
            continue;
        }
        if (out)
            memcpy(out + kept, p + start, pos - start);
        kept += pos - start;
    }
    return kept;
}

/* The ModelProto's bytes with its graphs' initializers (GraphProto field
 * 5) cut out: written to out when not NULL; returns the length, SIZE_MAX
 * when malformed. */
static size_t model_walk(const uint8_t *p, size_t n, uint8_t *out, pb_span *spans, size_t *ns)
{
    size_t pos = 0, o = 0;
    *ns = 0;
    while (pos < n) {
        size_t start = pos, body = 0, blen = 0;
        uint64_t key;
        if (!pb_varint(p, n, &pos, &key))
            return SIZE_MAX;
        size_t key_end = pos;
        if (!pb_skip(p, n, &pos, key & 7, &body, &blen))
            return SIZE_MAX;
        if ((key >> 3) != 7 || (key & 7) != 2) {
            if (out)
                memcpy(out + o, p + start, pos - start);
            o += pos - start;
            continue;
        }
        size_t before = *ns;
        size_t kept = msg_cut(p, body, blen, 5, NULL, NULL, ns);
        if (kept == SIZE_MAX)
            return SIZE_MAX;
        if (out) {
            memcpy(out + o, p + start, key_end - start);
            size_t h = pb_put_varint(out + o + (key_end - start), kept);
            *ns = before;
            msg_cut(p, body, blen, 5, out + o + (key_end - start) + h, spans, ns);
        }
        o += (key_end - start) + pb_put_varint(NULL, kept) + kept;
    }
    return o;
}

/* raw_data of at least this many bytes is copied out of the file by the
 * loader, in pieces whose pages are dropped as it goes, rather than by
 * protobuf-c in one piece: otherwise the largest weight (BERT's word
 * embeddings, 94 MB) was held twice at the peak of the load. */
#define RAW_SPLIT_MIN ((size_t)1 << 20)
#define RAW_PIECE ((size_t)8 << 20)

/* One initializer's TensorProto at span: decoded whole, or, when it has
 * one large raw_data field, decoded without it and the data copied after
 * (see RAW_SPLIT_MIN). NULL when malformed or out of memory. */
static Onnx__TensorProto *decode_tensor(const uint8_t *p, pb_span span, bool drop_pages)
{
    pb_span raw[2];
    size_t nr = 0;
    size_t kept = msg_cut(p, span.off, span.len, 9, NULL, NULL, &nr);
    if (kept == SIZE_MAX || nr != 1)
        return onnx__tensor_proto__unpack(&pb_allocator, span.len, p + span.off);
    nr = 0;
    msg_cut(p, span.off, span.len, 9, NULL, raw, &nr);
    if (raw[0].len < RAW_SPLIT_MIN)
        return onnx__tensor_proto__unpack(&pb_allocator, span.len, p + span.off);
    uint8_t *rest = skiff__malloc(kept ? kept : 1);
    void *data = skiff__malloc(raw[0].len);
    Onnx__TensorProto *tp = NULL;
    if (rest && data) {
        nr = 0;
        msg_cut(p, span.off, span.len, 9, rest, raw, &nr);
        tp = onnx__tensor_proto__unpack(&pb_allocator, kept, rest);
    }
    skiff__free(rest);
    if (!tp) {
        skiff__free(data);
        return NULL;
    }
    for (size_t at = 0; at < raw[0].len; at += RAW_PIECE) {
        size_t n = raw[0].len - at < RAW_PIECE ? raw[0].len - at : RAW_PIECE;
        memcpy((uint8_t *)data + at, p + raw[0].off + at, n);
        if (drop_pages)
            skiff__map_drop(p + raw[0].off + at, n);
    }
    tp->has_raw_data = 1;
    tp->raw_data.data = data;
    tp->raw_data.len = raw[0].len;
    return tp;
}

static skiff_status_t *decode_error(size_t size)
{
    if (skiff__alloc_failed())
        return OOM();
    return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                            "not a valid ONNX model (protobuf decoding failed after reading "
                            "%zu bytes)",
                            size);
}

/* Decodes the model: the skeleton, then the initializers one by one (see
 * above); the whole message at once when the walk fails. */
static skiff_status_t *decode_model(const void *data, size_t size, bool drop_pages,
                                    Onnx__ModelProto **out)
{
    const uint8_t *p = data;
    size_t ns = 0;
    size_t skel_len = model_walk(p, size, NULL, NULL, &ns);
    if (skel_len == SIZE_MAX || ns == 0) {
        *out = onnx__model_proto__unpack(&pb_allocator, size, data);
        return *out ? NULL : decode_error(size);
    }
    uint8_t *skel = skiff__malloc(skel_len ? skel_len : 1);
    pb_span *spans = skiff__malloc(sizeof(*spans) * ns);
    if (!skel || !spans) {
        skiff__free(skel);
        skiff__free(spans);
        return OOM();
    }
    model_walk(p, size, skel, spans, &ns);
    Onnx__ModelProto *mp = onnx__model_proto__unpack(&pb_allocator, skel_len, skel);
    skiff__free(skel);
    /* a graph field is there (it held the initializers), so a decoded
     * skeleton has a graph, with no initializers of its own */
    Onnx__TensorProto **tps = mp && mp->graph ? skiff__malloc(sizeof(*tps) * ns) : NULL;
    if (!tps) {
        skiff__free(spans);
        if (mp)
            onnx__model_proto__free_unpacked(mp, &pb_allocator);
        return mp ? OOM() : decode_error(size);
    }
    mp->graph->initializer = tps;
    mp->graph->n_initializer = 0;
    skiff_status_t *st = NULL;
    for (size_t i = 0; i < ns && !st; i++) {
        tps[i] = decode_tensor(p, spans[i], drop_pages);
        if (!tps[i])
            st = decode_error(size);
        else
            mp->graph->n_initializer++;
        if (drop_pages)
            skiff__map_drop(p + spans[i].off, spans[i].len);
    }
    skiff__free(spans);
    if (st) {
        onnx__model_proto__free_unpacked(mp, &pb_allocator);
        return st;
    }
    *out = mp;
    return NULL;
}

skiff_status_t *skiff__onnx_parse(const void *data, size_t size, const char *base_dir,
                                  bool drop_pages, skiff__graph **out_graph)
{
    if (!pb_depth_ok(data, size))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "not a valid ONNX model: graphs or types nested more than %d "
                                "messages deep",
                                PB_MAX_DEPTH);
    Onnx__ModelProto *mp = NULL;
    skiff_status_t *st = decode_model(data, size, drop_pages, &mp);
    if (st)
        return st;
    skiff__graph *g = skiff__calloc(1, sizeof(*g));
    st = g ? build_graph(mp, base_dir, g) : OOM();
    onnx__model_proto__free_unpacked(mp, &pb_allocator);
    if (!st)
        st = skiff__graph_bind_kernels(g);
    if (st) {
        skiff__graph_free(g);
        return st;
    }
    recount_rec(g);
    *out_graph = g;
    return NULL;
}
