/* paddle_pir.c - Paddle 3's PIR programs (`inference.json`), read into the
 * same in-memory form the ProgramDesc loader maps.
 *
 * A PIR program is JSON: {"base_code": {"magic": "pir", "version": 1, ...},
 * "program": {"regions": [{"blocks": [{"ops": [...]}]}]}}. Each op names
 * itself in "#" (a dialect number, a dot and the op: "1.conv2d" is
 * pd_op.conv2d, "0.combine" builtin.combine; "p" a parameter), its operands
 * in "I" ({"%": value id}, 0 for none), its results in "O" ({"%": id, "TT":
 * type}) and its attributes in "A" ({"N": name, "AT": {"#": type, "D":
 * data}}). Values are numbered; each is defined once, before its uses.
 *
 * The program becomes a BlockDesc (framework.proto's structs, built here in
 * an arena) whose variables and OpDescs are Paddle's legacy ones: parameters
 * ("p" ops) are persistable variables named as the parameter, read from the
 * combined .pdiparams (sorted-name order, as 2.x), pd_op.data a feed, pd_op.fetch
 * a fetch (the fetched value takes the fetch's name), every other op the
 * legacy op of the same meaning, its operands in the legacy slots and its
 * attributes renamed where the names differ (the table `rules`). Operands that
 * legacy ops take as attributes (pool2d's kernel_size, reshape's shape,
 * concat's axis, ...) come from pd_op.full_int_array / pd_op.full ops, read
 * here as constants; a constant used as a tensor becomes a fill_constant.
 * paddle.c then loads and maps the block as it does a ProgramDesc's, so the
 * parameter checks and op mappings (paddle_ops.c) are the same code.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paddle_int.h"

#define OOM() skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory")

/* ---- arena: every struct of the block, freed at once --------------------------- */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
} chunk;

#define CHUNK_HEAD ((sizeof(chunk) + 15) & ~(size_t)15)

/* ---- the program being translated ---------------------------------------------------- */

enum {
    PV_TENSOR,  /* a legacy variable (name) */
    PV_CONST,   /* pd_op.full / full_int_array: values; name once used as a tensor */
    PV_LIST,    /* builtin.combine: the ids of its elements */
    PV_DROPPED, /* a result with no legacy counterpart (batch_norm's statistics, ...) */
    PV_UNKNOWN, /* a result of an op skiff does not translate */
};

typedef struct pval {
    int64_t id; /* 0: free slot */
    int kind;
    const char *name;     /* legacy variable; NULL while there is none */
    const char *producer; /* the op that defines it (messages) */
    int n;                /* PV_CONST: values; PV_LIST: elements */
    int64_t *iv;          /* PV_CONST: values as integers; PV_LIST: ids */
    double *fv;           /* PV_CONST: values as numbers */
    int ndim;             /* PV_CONST: shape (a full's; [n] for full_int_array) */
    int64_t dims[SKIFF_MAX_DIMS];
    int dtype;    /* PV_CONST: VarType code */
    bool uniform; /* PV_CONST: every element is fv[0] */
} pval;

typedef struct pir {
    chunk *arena;
    pd_block *b;
    size_t cap_vars, cap_ops;
    pval *vals; /* open addressing on id */
    size_t n_vals, cap_vals;
    const char **names; /* variable names, open addressing */
    size_t n_names, cap_names;
    int n_feed, n_fetch;
    /* The fetched values, named after their fetch op. */
    int64_t fetch_id[64];
    const char *fetch_name[64];
    int n_fetch_names;
} pir;

static void *ar_alloc(pir *p, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!p->arena || p->arena->cap - p->arena->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        chunk *c = skiff__malloc(CHUNK_HEAD + cap);
        if (!c)
            return NULL;
        c->next = p->arena;
        c->used = 0;
        c->cap = cap;
        p->arena = c;
    }
    void *r = (char *)p->arena + CHUNK_HEAD + p->arena->used;
    p->arena->used += n;
    memset(r, 0, n);
    return r;
}

static char *ar_strdup(pir *p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *r = ar_alloc(p, n);
    if (r)
        memcpy(r, s, n);
    return r;
}

/* Appends ptr to an arena array of pointers (its count *n, capacity *cap). */
static bool ar_push(pir *p, void ***arr, size_t *n, size_t *cap, void *ptr)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        void **na = ar_alloc(p, nc * sizeof(void *));
        if (!na)
            return false;
        if (*n)
            memcpy(na, *arr, *n * sizeof(void *));
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = ptr;
    return true;
}

static void pir_free(pir *p)
{
    while (p->arena) {
        chunk *c = p->arena;
        p->arena = c->next;
        skiff__free(c);
    }
    skiff__free(p->vals);
    skiff__free(p->names);
}

/* ---- values and names ------------------------------------------------------------ */

static size_t id_hash(int64_t id) { return (size_t)((uint64_t)id * 0x9E3779B97F4A7C15ull >> 20); }

static pval *val_find(pir *p, int64_t id)
{
    if (!p->cap_vals || id == 0)
        return NULL;
    for (size_t k = id_hash(id) & (p->cap_vals - 1);; k = (k + 1) & (p->cap_vals - 1)) {
        if (p->vals[k].id == id)
            return &p->vals[k];
        if (p->vals[k].id == 0)
            return NULL;
    }
}

/* A new value (zeroed but for its id), or NULL (out of memory). */
static pval *val_add(pir *p, int64_t id)
{
    if ((p->n_vals + 1) * 2 > p->cap_vals) {
        size_t cap = p->cap_vals ? p->cap_vals * 2 : 256;
        pval *nv = skiff__calloc(cap, sizeof(*nv));
        if (!nv)
            return NULL;
        for (size_t i = 0; i < p->cap_vals; i++) {
            if (!p->vals[i].id)
                continue;
            size_t k = id_hash(p->vals[i].id) & (cap - 1);
            while (nv[k].id)
                k = (k + 1) & (cap - 1);
            nv[k] = p->vals[i];
        }
        skiff__free(p->vals);
        p->vals = nv;
        p->cap_vals = cap;
    }
    size_t k = id_hash(id) & (p->cap_vals - 1);
    while (p->vals[k].id)
        k = (k + 1) & (p->cap_vals - 1);
    p->n_vals++;
    pval *v = &p->vals[k];
    v->id = id;
    return v;
}

static size_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static bool name_used(const pir *p, const char *name)
{
    if (!p->cap_names)
        return false;
    for (size_t k = str_hash(name) & (p->cap_names - 1); p->names[k];
         k = (k + 1) & (p->cap_names - 1))
        if (!strcmp(p->names[k], name))
            return true;
    return false;
}

/* Claims a variable name (the arena's copy); false when out of memory. */
static bool name_add(pir *p, const char *name)
{
    if ((p->n_names + 1) * 2 > p->cap_names) {
        size_t cap = p->cap_names ? p->cap_names * 2 : 256;
        const char **nn = skiff__calloc(cap, sizeof(*nn));
        if (!nn)
            return false;
        for (size_t i = 0; i < p->cap_names; i++) {
            if (!p->names[i])
                continue;
            size_t k = str_hash(p->names[i]) & (cap - 1);
            while (nn[k])
                k = (k + 1) & (cap - 1);
            nn[k] = p->names[i];
        }
        skiff__free(p->names);
        p->names = nn;
        p->cap_names = cap;
    }
    size_t k = str_hash(name) & (p->cap_names - 1);
    while (p->names[k])
        k = (k + 1) & (p->cap_names - 1);
    p->names[k] = name;
    p->n_names++;
    return true;
}

/* ---- types and attributes ---------------------------------------------------------- */

/* PIR's element type ("0.t_f32") -> VarType code; -1 for the others. */
static int type_code(const char *t)
{
    static const struct {
        const char *pir;
        int code;
    } map[] = {{"0.t_bool", 0}, {"0.t_i16", 1}, {"0.t_i32", 2},  {"0.t_i64", 3}, {"0.t_f16", 4},
               {"0.t_f32", 5},  {"0.t_f64", 6}, {"0.t_ui8", 20}, {"0.t_i8", 21}, {"0.t_bf16", 22}};
    for (size_t i = 0; t && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].pir, t))
            return map[i].code;
    return -1;
}

/* A dtype attribute's name ("float32") -> VarType code; -1 for the others. */
static int dtype_code(const char *s)
{
    static const struct {
        const char *name;
        int code;
    } map[] = {{"bool", 0},    {"int16", 1},   {"int32", 2},  {"int64", 3}, {"float16", 4},
               {"float32", 5}, {"float64", 6}, {"uint8", 20}, {"int8", 21}, {"bfloat16", 22}};
    for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(map[i].name, s))
            return map[i].code;
    return -1;
}

/* A dense tensor VarType of dtype `code` and dims. */
static Paddle__Framework__Proto__VarType *dense_type(pir *p, int code, const int64_t *dims,
                                                     size_t n)
{
    Paddle__Framework__Proto__VarType *vt = ar_alloc(p, sizeof(*vt));
    Paddle__Framework__Proto__VarType__DenseTensorDesc *dt = ar_alloc(p, sizeof(*dt));
    pd_tensor_desc *td = ar_alloc(p, sizeof(*td));
    int64_t *dv = ar_alloc(p, sizeof(int64_t) * (n + 1));
    if (!vt || !dt || !td || !dv)
        return NULL;
    *vt = (Paddle__Framework__Proto__VarType)PADDLE__FRAMEWORK__PROTO__VAR_TYPE__INIT;
    *dt = (Paddle__Framework__Proto__VarType__DenseTensorDesc)
        PADDLE__FRAMEWORK__PROTO__VAR_TYPE__DENSE_TENSOR_DESC__INIT;
    *td = (pd_tensor_desc)PADDLE__FRAMEWORK__PROTO__VAR_TYPE__TENSOR_DESC__INIT;
    vt->type = 7; /* DENSE_TENSOR */
    td->data_type = code;
    if (n)
        memcpy(dv, dims, sizeof(int64_t) * n);
    td->dims = dv;
    td->n_dims = n;
    dt->tensor = td;
    vt->dense_tensor = dt;
    return vt;
}

/* A value's type {"#": "0.t_dtensor", "D": [elem, dims, layout, lod, offset]}
 * as a VarType: a dense tensor of its dtype and dims, or, for any other type,
 * a VarType without one (rank unknown). */
static skiff_status_t *var_type(pir *p, const json_t *tt, Paddle__Framework__Proto__VarType **out)
{
    const char *t = json_string_value(json_object_get(tt, "#"));
    const json_t *d = json_object_get(tt, "D");
    if (!t || strcmp(t, "0.t_dtensor") != 0) {
        Paddle__Framework__Proto__VarType *vt = ar_alloc(p, sizeof(*vt));
        if (!vt)
            return OOM();
        *vt = (Paddle__Framework__Proto__VarType)PADDLE__FRAMEWORK__PROTO__VAR_TYPE__INIT;
        vt->type = 7;
        *out = vt;
        return NULL;
    }
    const json_t *dims = json_array_get(d, 1);
    int64_t dv[SKIFF_MAX_DIMS];
    if (!json_is_array(dims) || json_array_size(dims) > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "a tensor type without dims (or of rank %zu)",
                                json_array_size(dims));
    for (size_t i = 0; i < json_array_size(dims); i++) {
        const json_t *e = json_array_get(dims, i);
        if (!json_is_integer(e) || json_integer_value(e) < -1)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "a tensor type with dim %zu not -1 or a size", i);
        dv[i] = json_integer_value(e);
    }
    int code = type_code(json_string_value(json_object_get(json_array_get(d, 0), "#")));
    *out = dense_type(p, code, dv, json_array_size(dims));
    return *out ? NULL : OOM();
}

/* A number of an attribute or an array element: D, or VD ("NaN", "INF",
 * "-INF") for the values JSON has no number for. */
static bool number_of(const json_t *at, double *out)
{
    const json_t *d = json_object_get(at, "D");
    const char *vd = json_string_value(json_object_get(at, "VD"));
    if (json_is_number(d)) {
        *out = json_number_value(d);
        return true;
    }
    if (json_is_boolean(d)) {
        *out = json_is_true(d);
        return true;
    }
    if (!vd)
        return false;
    if (!strcmp(vd, "NaN"))
        *out = (double)NAN;
    else if (!strcmp(vd, "INF"))
        *out = (double)INFINITY;
    else if (!strcmp(vd, "-INF"))
        *out = -(double)INFINITY;
    else
        return false;
    return true;
}

/* A scalar attribute's value ({"#": "0.a_f32"/"0.a_i64"/.../"1.a_scalar"}). */
static bool scalar_of(const json_t *at, double *f, int64_t *i)
{
    const char *t = json_string_value(json_object_get(at, "#"));
    if (!t)
        return false;
    if (!strcmp(t, "1.a_scalar")) {
        /* D: [dtype name, value] (complex: [dtype, re, im]) */
        const json_t *d = json_object_get(at, "D");
        const json_t *v = json_array_get(d, 1);
        if (!json_is_number(v) && !json_is_boolean(v))
            return false;
        *f = json_is_boolean(v) ? json_is_true(v) : json_number_value(v);
        *i = json_is_integer(v) ? (int64_t)json_integer_value(v) : (int64_t)*f;
        return true;
    }
    if (!number_of(at, f))
        return false;
    const json_t *d = json_object_get(at, "D");
    *i = json_is_integer(d) ? (int64_t)json_integer_value(d) : (*f == *f ? (int64_t)*f : 0);
    return true;
}

enum { AT_INT = 0, AT_FLOAT = 1, AT_STRING = 2, AT_INTS = 3, AT_FLOATS = 4, AT_STRINGS = 5 };
enum { AT_BOOLEAN = 6, AT_BOOLEANS = 7, AT_LONG = 9, AT_LONGS = 11, AT_FLOAT64 = 15 };

static pd_attr *new_attr(pir *p, const char *name, int type)
{
    pd_attr *a = ar_alloc(p, sizeof(*a));
    if (!a || !(name = ar_strdup(p, name)))
        return NULL;
    *a = (pd_attr)PADDLE__FRAMEWORK__PROTO__OP_DESC__ATTR__INIT;
    a->name = (char *)name;
    a->type = type;
    return a;
}

static pd_attr *attr_int(pir *p, const char *name, int64_t v)
{
    bool small = v >= INT32_MIN && v <= INT32_MAX;
    pd_attr *a = new_attr(p, name, small ? AT_INT : AT_LONG);
    if (a && small)
        a->has_i = true, a->i = (int32_t)v;
    else if (a)
        a->has_l = true, a->l = v;
    return a;
}

static pd_attr *attr_float(pir *p, const char *name, double v)
{
    pd_attr *a = new_attr(p, name, AT_FLOAT);
    if (a)
        a->has_f = true, a->f = (float)v;
    return a;
}

static pd_attr *attr_longs(pir *p, const char *name, const int64_t *v, int n)
{
    pd_attr *a = new_attr(p, name, AT_LONGS);
    if (!a || !(a->longs = ar_alloc(p, sizeof(int64_t) * ((size_t)n + 1))))
        return NULL;
    if (n > 0)
        memcpy(a->longs, v, sizeof(int64_t) * (size_t)n);
    a->n_longs = (size_t)(n > 0 ? n : 0);
    return a;
}

/* An array attribute ({"#": "0.a_array", "D": [elements]}): ints, longs,
 * floats, bools or strings by its first element's type. */
static skiff_status_t *array_attr(pir *p, const json_t *d, pd_attr *a)
{
    size_t n = json_array_size(d);
    const char *t0 = json_string_value(json_object_get(json_array_get(d, 0), "#"));
    a->type = AT_INTS;
    if (n == 0)
        return NULL;
    if (!t0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "attribute %s: an array of untyped elements", a->name);
    bool i32 = !strcmp(t0, "0.a_i32"), i64 = !strcmp(t0, "0.a_i64") || !strcmp(t0, "0.a_index");
    bool fl = !strcmp(t0, "0.a_f32") || !strcmp(t0, "0.a_f64");
    bool bo = !strcmp(t0, "0.a_bool"), st = !strcmp(t0, "0.a_str");
    if (i32 && !(a->ints = ar_alloc(p, n * sizeof(int32_t))))
        return OOM();
    if (i64 && !(a->longs = ar_alloc(p, n * sizeof(int64_t))))
        return OOM();
    if (fl && !(a->floats = ar_alloc(p, n * sizeof(float))))
        return OOM();
    if (bo && !(a->bools = ar_alloc(p, n * sizeof(protobuf_c_boolean))))
        return OOM();
    if (st && !(a->strings = ar_alloc(p, n * sizeof(char *))))
        return OOM();
    if (!i32 && !i64 && !fl && !bo && !st)
        return NULL; /* arrays of other attributes: not read by any mapping */
    a->type = i32 ? AT_INTS : i64 ? AT_LONGS : fl ? AT_FLOATS : bo ? AT_BOOLEANS : AT_STRINGS;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(d, i);
        const char *t = json_string_value(json_object_get(e, "#"));
        const json_t *ed = json_object_get(e, "D");
        double f = 0;
        if (!t || strcmp(t, t0) != 0 ||
            (st   ? !json_is_string(ed)
             : bo ? !json_is_boolean(ed)
                  : !number_of(e, &f)))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "attribute %s: element %zu is not a %s like the first", a->name,
                                    i, t0);
        if (i32 && (!json_is_integer(ed) || json_integer_value(ed) < INT32_MIN ||
                    json_integer_value(ed) > INT32_MAX))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                    "attribute %s: element %zu is not a 32-bit integer", a->name,
                                    i);
        if (i32)
            a->ints[a->n_ints++] = (int32_t)json_integer_value(ed);
        else if (i64)
            a->longs[a->n_longs++] = json_is_integer(ed) ? json_integer_value(ed) : (int64_t)0;
        else if (fl)
            a->floats[a->n_floats++] = (float)f;
        else if (bo)
            a->bools[a->n_bools++] = json_is_true(ed);
        else if (!(a->strings[a->n_strings++] = ar_strdup(p, json_string_value(ed))))
            return OOM();
    }
    return NULL;
}

/* One attribute ({"N": name, "AT": {"#": type, "D": data}}) as a legacy
 * Attr named `name`; *out NULL for attributes no mapping reads (places, other
 * dialects' types). */
static skiff_status_t *conv_attr(pir *p, const json_t *at, const char *name, pd_attr **out)
{
    *out = NULL;
    const char *t = json_string_value(json_object_get(at, "#"));
    const json_t *d = json_object_get(at, "D");
    if (!t)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s has no type", name);
    pd_attr *a = new_attr(p, name, AT_INT);
    if (!a)
        return OOM();
    double f;
    int64_t i;
    if (!strcmp(t, "0.a_bool")) {
        if (!json_is_boolean(d))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not a bool", name);
        a->type = AT_BOOLEAN, a->has_b = true, a->b = json_is_true(d);
    } else if (!strcmp(t, "0.a_i32") || !strcmp(t, "0.a_i64") || !strcmp(t, "0.a_index")) {
        if (!json_is_integer(d))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not an integer", name);
        a = attr_int(p, name, json_integer_value(d));
    } else if (!strcmp(t, "0.a_f32") || !strcmp(t, "0.a_f64")) {
        if (!number_of(at, &f))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not a number", name);
        if (!strcmp(t, "0.a_f32"))
            a->type = AT_FLOAT, a->has_f = true, a->f = (float)f;
        else
            a->type = AT_FLOAT64, a->has_float64 = true, a->float64 = f;
    } else if (!strcmp(t, "0.a_str") || !strcmp(t, "1.a_layout")) {
        if (!json_is_string(d))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not a string", name);
        a->type = AT_STRING;
        if (!(a->s = ar_strdup(p, json_string_value(d))))
            return OOM();
    } else if (!strcmp(t, "0.a_array")) {
        if (!json_is_array(d))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not an array", name);
        skiff_status_t *st = array_attr(p, d, a);
        if (st)
            return st;
    } else if (!strcmp(t, "1.a_intarray")) {
        size_t n = json_array_size(d);
        if (!json_is_array(d))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not an array", name);
        a->type = AT_LONGS;
        if (!(a->longs = ar_alloc(p, (n + 1) * sizeof(int64_t))))
            return OOM();
        for (size_t k = 0; k < n; k++) {
            if (!json_is_integer(json_array_get(d, k)))
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "attribute %s: element %zu is not an integer", name, k);
            a->longs[a->n_longs++] = json_integer_value(json_array_get(d, k));
        }
    } else if (!strcmp(t, "1.a_dtype")) {
        if (!json_is_string(d))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not a dtype", name);
        a->has_i = true, a->i = dtype_code(json_string_value(d));
    } else if (!strcmp(t, "1.a_scalar")) {
        if (!scalar_of(at, &f, &i))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %s: not a scalar", name);
        const char *dt = json_string_value(json_array_get(d, 0));
        if (dt && (strstr(dt, "float") || strstr(dt, "complex")))
            a = attr_float(p, name, f);
        else if (dt && !strcmp(dt, "bool"))
            a->type = AT_BOOLEAN, a->has_b = true, a->b = i != 0;
        else
            a = attr_int(p, name, i);
    } else {
        return NULL;
    }
    if (!a)
        return OOM();
    *out = a;
    return NULL;
}

/* ---- the block: variables and ops ---------------------------------------------------- */

/* A new variable of type vt (NULL: out of memory); its name must be new. */
static skiff_status_t *add_var(pir *p, const char *name, Paddle__Framework__Proto__VarType *vt,
                               bool persistable)
{
    if (!vt)
        return OOM();
    if (name_used(p, name))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "variable '%s' is defined twice", name);
    pd_var *v = ar_alloc(p, sizeof(*v));
    if (!v || !(name = ar_strdup(p, name)) || !name_add(p, name))
        return OOM();
    *v = (pd_var)PADDLE__FRAMEWORK__PROTO__VAR_DESC__INIT;
    v->name = (char *)name;
    v->has_persistable = persistable;
    v->persistable = persistable;
    v->type = vt;
    if (!ar_push(p, (void ***)&p->b->vars, &p->b->n_vars, &p->cap_vars, v))
        return OOM();
    return NULL;
}

/* A new variable of the type of a result ({"%": id, "TT": type}). */
static skiff_status_t *add_var_of(pir *p, const char *name, const json_t *res, bool persistable)
{
    Paddle__Framework__Proto__VarType *vt;
    skiff_status_t *st = var_type(p, json_object_get(res, "TT"), &vt);
    return st ? st : add_var(p, name, vt, persistable);
}

/* A new OpDesc of `type` with room for n_slots inputs, 2 outputs, n_attrs
 * attributes; appended to the block by push_op. */
static pd_op *new_op(pir *p, const char *type, size_t n_slots, size_t n_attrs)
{
    pd_op *o = ar_alloc(p, sizeof(*o));
    if (!o)
        return NULL;
    *o = (pd_op)PADDLE__FRAMEWORK__PROTO__OP_DESC__INIT;
    o->type = ar_strdup(p, type);
    o->inputs = ar_alloc(p, sizeof(void *) * (n_slots + 1));
    o->outputs = ar_alloc(p, sizeof(void *) * 2);
    o->attrs = ar_alloc(p, sizeof(void *) * (n_attrs + 1));
    return o->type && o->inputs && o->outputs && o->attrs ? o : NULL;
}

static bool push_op(pir *p, pd_op *o)
{
    return ar_push(p, (void ***)&p->b->ops, &p->b->n_ops, &p->cap_ops, o);
}

/* A slot of n arguments (filled by the caller) on inputs or outputs. */
static Paddle__Framework__Proto__OpDesc__Var *add_slot(pir *p, pd_op *o, bool output,
                                                       const char *param, size_t n)
{
    Paddle__Framework__Proto__OpDesc__Var *s = ar_alloc(p, sizeof(*s));
    if (!s)
        return NULL;
    *s = (Paddle__Framework__Proto__OpDesc__Var)PADDLE__FRAMEWORK__PROTO__OP_DESC__VAR__INIT;
    s->parameter = ar_strdup(p, param);
    s->arguments = ar_alloc(p, sizeof(char *) * (n + 1));
    if (!s->parameter || !s->arguments)
        return NULL;
    if (output)
        o->outputs[o->n_outputs++] = s;
    else
        o->inputs[o->n_inputs++] = s;
    return s;
}

static bool add_slot1(pir *p, pd_op *o, bool output, const char *param, const char *arg)
{
    Paddle__Framework__Proto__OpDesc__Var *s = add_slot(p, o, output, param, 1);
    if (!s || !(s->arguments[0] = ar_strdup(p, arg)))
        return false;
    s->n_arguments = 1;
    return true;
}

/* ---- operands ---------------------------------------------------------------------- */

/* The value id of operand k ({"%": id}); 0 for none. */
static skiff_status_t *operand_id(const json_t *ins, size_t k, int64_t *id)
{
    const json_t *o = json_array_get(ins, k);
    *id = 0;
    if (!o)
        return NULL;
    const json_t *v = json_object_get(o, "%");
    if (!json_is_integer(v))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "operand %zu has no value id", k);
    *id = json_integer_value(v);
    return NULL;
}

static skiff_status_t *need_val(pir *p, int64_t id, size_t k, pval **out)
{
    *out = val_find(p, id);
    if (!*out)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "operand %zu is value %" PRId64 ", which no earlier op defines", k,
                                id);
    return NULL;
}

static const char *value_name(pir *p, int64_t id, char *buf, size_t cap);

/* A constant as a variable: a fill_constant op, for one of a single value. */
static skiff_status_t *const_tensor(pir *p, pval *v, size_t k)
{
    if (!v->uniform)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "operand %zu: %s's constant of differing values as a tensor (only "
                                "a constant of one value, as fill_constant, is supported)",
                                k, v->producer);
    char buf[32];
    const char *name = value_name(p, v->id, buf, sizeof(buf));
    if (name_used(p, name))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "variable '%s' is defined twice", name);
    skiff_status_t *st = add_var(p, name, dense_type(p, v->dtype, v->dims, (size_t)v->ndim), false);
    if (st)
        return st;
    pd_op *o = new_op(p, "fill_constant", 0, 4);
    char sv[64];
    double value = v->fv[0];
    snprintf(sv, sizeof(sv), "%.17g", value);
    if (!o || !add_slot1(p, o, true, "Out", name) ||
        !(o->attrs[o->n_attrs++] = attr_longs(p, "shape", v->dims, v->ndim)) ||
        !(o->attrs[o->n_attrs++] = attr_int(p, "dtype", v->dtype)) ||
        !(o->attrs[o->n_attrs++] = attr_float(p, "value", value)) ||
        !(o->attrs[o->n_attrs] = new_attr(p, "str_value", AT_STRING)) ||
        !(o->attrs[o->n_attrs++]->s = ar_strdup(p, sv)) || !push_op(p, o))
        return OOM();
    v->name = p->b->vars[p->b->n_vars - 1]->name;
    return NULL;
}

/* The variable of a tensor operand k (value id). */
static skiff_status_t *tensor_of(pir *p, int64_t id, size_t k, const char **name)
{
    pval *v;
    skiff_status_t *st = need_val(p, id, k, &v);
    if (st)
        return st;
    switch (v->kind) {
    case PV_CONST:
        if (!v->name && (st = const_tensor(p, v, k)))
            return st;
        break;
    case PV_LIST:
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "operand %zu is a list (%s) where a tensor is expected", k,
                                v->producer);
    case PV_DROPPED:
    case PV_UNKNOWN:
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "operand %zu is a result of %s that skiff does not translate", k,
                                v->producer);
    default: break;
    }
    *name = v->name;
    return *name ? NULL
                 : skiff_status_new(SKIFF_CODE_INVALID_ARG, "operand %zu has no variable", k);
}

/* ---- results ------------------------------------------------------------------- */

/* The variable name of value id: the fetch op's name for a fetched value, or
 * "%<id>". */
static const char *value_name(pir *p, int64_t id, char *buf, size_t cap)
{
    for (int i = 0; i < p->n_fetch_names; i++)
        if (p->fetch_id[i] == id && p->fetch_name[i] && !name_used(p, p->fetch_name[i]))
            return p->fetch_name[i];
    snprintf(buf, cap, "%%%" PRId64, id);
    return buf;
}

/* Defines result value (json {"%": id, "TT": type}) of `kind`; *out the new
 * value. */
static skiff_status_t *define(pir *p, const json_t *res, int kind, const char *producer, pval **out)
{
    const json_t *idj = json_object_get(res, "%");
    int64_t id = json_is_integer(idj) ? json_integer_value(idj) : 0;
    if (id == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "a result without a value id");
    if (val_find(p, id))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "value %" PRId64 " is defined twice", id);
    pval *v = val_add(p, id);
    if (!v)
        return OOM();
    v->kind = kind;
    v->producer = producer;
    if (out)
        *out = v;
    return NULL;
}

/* Defines result value `res` as a new variable (its name value_name's). */
static skiff_status_t *define_var(pir *p, const json_t *res, const char *producer,
                                  const char **name)
{
    pval *v;
    skiff_status_t *st = define(p, res, PV_TENSOR, producer, &v);
    if (st)
        return st;
    char buf[32];
    const char *nm = value_name(p, v->id, buf, sizeof(buf));
    if ((st = add_var_of(p, nm, res, false)))
        return st;
    v->name = *name = p->b->vars[p->b->n_vars - 1]->name;
    return NULL;
}

/* Every result of an op from `from` on, as values with no translation
 * (PV_UNKNOWN: also those the op defined before it failed). */
static skiff_status_t *define_rest(pir *p, const json_t *outs, size_t from, int kind,
                                   const char *producer)
{
    for (size_t i = from; i < json_array_size(outs); i++) {
        const json_t *r = json_array_get(outs, i);
        const json_t *idj = json_object_get(r, "%");
        pval *v = json_is_integer(idj) ? val_find(p, json_integer_value(idj)) : NULL;
        if (kind == PV_UNKNOWN && v)
            v->kind = PV_UNKNOWN, v->producer = producer;
        if (kind == PV_UNKNOWN && (v || !json_is_integer(idj)))
            continue;
        skiff_status_t *st = define(p, r, kind, producer, NULL);
        if (st)
            return st;
    }
    return NULL;
}

/* ---- the ops -------------------------------------------------------------------- */

/* An attribute by name ({"N": name, "AT": ...}) of an op's "A". */
static const json_t *op_attr(const json_t *op, const char *name)
{
    const json_t *attrs = json_object_get(op, "A");
    for (size_t i = 0; i < json_array_size(attrs); i++) {
        const json_t *a = json_array_get(attrs, i);
        const char *n = json_string_value(json_object_get(a, "N"));
        if (n && !strcmp(n, name))
            return json_object_get(a, "AT");
    }
    return NULL;
}

/* builtin.parameter ("p"): A = [is_distributed, is_parameter, need_clip,
 * name], O = its value. */
static skiff_status_t *tr_param(pir *p, const json_t *op, const char *opname)
{
    const char *name = json_string_value(json_array_get(json_object_get(op, "A"), 3));
    const json_t *res = json_object_get(op, "O");
    if (json_is_array(res))
        res = json_array_get(res, 0);
    if (!name || !name[0])
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "a parameter without a name");
    if (strlen(name) > 1024)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "a parameter name of %zu bytes",
                                strlen(name));
    pval *v;
    skiff_status_t *st = define(p, res, PV_TENSOR, opname, &v);
    if (st || (st = add_var_of(p, name, res, true)))
        return st;
    v->name = p->b->vars[p->b->n_vars - 1]->name;
    return NULL;
}

/* pd_op.data: a feed, col by order; the variable is named as the input. */
static skiff_status_t *tr_data(pir *p, const json_t *op, const char *opname)
{
    const char *name = json_string_value(json_object_get(op_attr(op, "name"), "D"));
    const json_t *res = json_array_get(json_object_get(op, "O"), 0);
    if (!name || !name[0] || strlen(name) > 1024)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "a data op without a name");
    pval *v;
    skiff_status_t *st = define(p, res, PV_TENSOR, opname, &v);
    if (st || (st = add_var_of(p, name, res, false)))
        return st;
    v->name = p->b->vars[p->b->n_vars - 1]->name;
    pd_op *o = new_op(p, "feed", 1, 1);
    if (!o || !add_slot1(p, o, false, "X", "feed") || !add_slot1(p, o, true, "Out", v->name) ||
        !(o->attrs[o->n_attrs++] = attr_int(p, "col", p->n_feed++)) || !push_op(p, o))
        return OOM();
    return NULL;
}

/* pd_op.fetch: a fetch of its operand, at its col. */
static skiff_status_t *tr_fetch(pir *p, const json_t *op, const char *opname)
{
    int64_t id;
    const char *name;
    double f;
    int64_t col = p->n_fetch;
    const json_t *cola = op_attr(op, "col");
    if (cola && !scalar_of(cola, &f, &col))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "a fetch op with a col not a number");
    p->n_fetch++;
    skiff_status_t *st = operand_id(json_object_get(op, "I"), 0, &id);
    if (st || (st = tensor_of(p, id, 0, &name)))
        return st;
    pd_op *o = new_op(p, "fetch", 1, 1);
    if (!o || !add_slot1(p, o, false, "X", name) || !add_slot1(p, o, true, "Out", "fetch") ||
        !(o->attrs[o->n_attrs++] = attr_int(p, "col", col)) || !push_op(p, o))
        return OOM();
    return define_rest(p, json_object_get(op, "O"), 0, PV_DROPPED, opname);
}

/* pd_op.full (shape, value, dtype) and pd_op.full_int_array (value, dtype):
 * constants, read by the ops that take them as attributes. A full's value
 * is repeated to its element count when that is at most CONST_MAX (n -1:
 * too many to be an attribute). */
#define CONST_MAX 4096
static skiff_status_t *tr_const(pir *p, const json_t *op, const char *opname, bool int_array)
{
    pval *v;
    const json_t *val = op_attr(op, "value");
    const json_t *vd = json_object_get(val, "D");
    size_t n = int_array ? json_array_size(vd) : 1;
    if (n > CONST_MAX)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "a constant of %zu values", n);
    skiff_status_t *st =
        define(p, json_array_get(json_object_get(op, "O"), 0), PV_CONST, opname, &v);
    if (st)
        return st;
    v->dtype = dtype_code(json_string_value(json_object_get(op_attr(op, "dtype"), "D")));
    v->uniform = true;
    if (int_array) {
        if (!json_is_array(vd))
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "full_int_array without values");
        if (!(v->iv = ar_alloc(p, sizeof(int64_t) * (n + 1))) ||
            !(v->fv = ar_alloc(p, sizeof(double) * (n + 1))))
            return OOM();
        for (size_t i = 0; i < n; i++) {
            if (!scalar_of(json_array_get(vd, i), &v->fv[i], &v->iv[i]))
                return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                        "full_int_array: value %zu is not a number", i);
            v->uniform = v->uniform && v->iv[i] == v->iv[0];
        }
        v->n = (int)n;
        v->ndim = 1;
        v->dims[0] = (int64_t)n;
        return NULL;
    }
    double f;
    int64_t iv;
    if (!val || !scalar_of(val, &f, &iv))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "full without a value");
    const json_t *shape = json_object_get(op_attr(op, "shape"), "D");
    if (!json_is_array(shape) || json_array_size(shape) > SKIFF_MAX_DIMS)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "full without a shape (or of rank > %d)",
                                SKIFF_MAX_DIMS);
    v->ndim = (int)json_array_size(shape);
    for (int i = 0; i < v->ndim; i++) {
        const json_t *d = json_array_get(shape, (size_t)i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "full: dim %d is not a size", i);
        v->dims[i] = json_integer_value(d);
    }
    int64_t numel = skiff_shape_numel(v->ndim, v->dims);
    v->n = numel >= 0 && numel <= CONST_MAX ? (int)numel : -1;
    n = v->n > 0 ? (size_t)v->n : 1;
    if (!(v->iv = ar_alloc(p, sizeof(int64_t) * n)) || !(v->fv = ar_alloc(p, sizeof(double) * n)))
        return OOM();
    for (size_t i = 0; i < n; i++)
        v->iv[i] = iv, v->fv[i] = f;
    return NULL;
}

/* builtin.combine: a list of its operands (concat's inputs, ...). */
static skiff_status_t *tr_combine(pir *p, const json_t *op, const char *opname)
{
    const json_t *ins = json_object_get(op, "I");
    size_t n = json_array_size(ins);
    if (n > 4096)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "a list of %zu values", n);
    int64_t *ids = ar_alloc(p, sizeof(int64_t) * (n + 1));
    if (!ids)
        return OOM();
    for (size_t k = 0; k < n; k++) {
        pval *e;
        skiff_status_t *st = operand_id(ins, k, &ids[k]);
        if (st || (st = need_val(p, ids[k], k, &e)))
            return st;
    }
    pval *v;
    skiff_status_t *st =
        define(p, json_array_get(json_object_get(op, "O"), 0), PV_LIST, opname, &v);
    if (st)
        return st;
    v->iv = ids;
    v->n = (int)n;
    return NULL;
}

/* ---- pd_op ops with a legacy counterpart -------------------------------------------- */

enum {
    A_T = 1, /* a tensor, in slot `name` */
    A_OPT,   /* a tensor if given (value 0: none), in slot `name` */
    A_LIST,  /* a builtin.combine list, slot `name` of every element */
    A_INTS,  /* attribute `name` from a constant (full_int_array); else tensor slot `slot` or a
                list in `list` */
    A_INT,   /* attribute `name`, an integer from a constant (full); else tensor slot `slot` */
    A_FLOAT, /* attribute `name`, a number from a constant (full); else tensor slot `slot` */
    A_SKIP,  /* not read (dropout's seed) */
};

typedef struct pir_arg {
    unsigned char kind;
    const char *name, *slot, *list;
} pir_arg;

/* One pd_op op: its legacy type, where each operand goes, the legacy slot of
 * its first result (the others have no counterpart), attribute renames
 * ("pir=legacy ..."), and whether the legacy op needs axis -1 (numpy's
 * broadcast, which PIR's elementwise ops always use). */
typedef struct pir_rule {
    const char *pir, *legacy;
    pir_arg args[5];
    const char *out, *renames;
    bool axis_m1;
} pir_rule;

static const pir_rule rules[] = {
    {"conv2d", "conv2d", {{A_T, "Input"}, {A_T, "Filter"}}, "Output"},
    {"depthwise_conv2d", "depthwise_conv2d", {{A_T, "Input"}, {A_T, "Filter"}}, "Output"},
    {"conv2d_transpose",
     "conv2d_transpose",
     {{A_T, "Input"}, {A_T, "Filter"}, {A_INTS, "output_size"}},
     "Output"},
    /* PIR: x, mean, variance, scale, bias */
    {"batch_norm",
     "batch_norm",
     {{A_T, "X"}, {A_T, "Mean"}, {A_T, "Variance"}, {A_T, "Scale"}, {A_T, "Bias"}},
     "Y",
     "data_format=data_layout"},
    {"pool2d", "pool2d", {{A_T, "X"}, {A_INTS, "ksize"}}, "Out"},
    {"add", "elementwise_add", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"subtract", "elementwise_sub", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"multiply", "elementwise_mul", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"divide", "elementwise_div", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"maximum", "elementwise_max", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"minimum", "elementwise_min", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"matmul",
     "matmul_v2",
     {{A_T, "X"}, {A_T, "Y"}},
     "Out",
     "transpose_x=trans_x transpose_y=trans_y"},
    {"scale", "scale", {{A_T, "X"}, {A_FLOAT, "scale", "ScaleTensor"}}, "Out"},
    {"reshape", "reshape2", {{A_T, "X"}, {A_INTS, "shape", "Shape", "ShapeTensor"}}, "Out"},
    {"flatten", "flatten_contiguous_range", {{A_T, "X"}}, "Out"},
    {"transpose", "transpose2", {{A_T, "X"}}, "Out", "perm=axis"},
    {"concat", "concat", {{A_LIST, "X"}, {A_INT, "axis", "AxisTensor"}}, "Out"},
    {"slice",
     "slice",
     {{A_T, "Input"},
      {A_INTS, "starts", "StartsTensor", "StartsTensorList"},
      {A_INTS, "ends", "EndsTensor", "EndsTensorList"}},
     "Out"},
    {"shape", "shape", {{A_T, "Input"}}, "Out"},
    {"cast", "cast", {{A_T, "X"}}, "Out", "dtype=out_dtype"},
    {"nearest_interp",
     "nearest_interp_v2",
     {{A_T, "X"}, {A_OPT, "OutSize"}, {A_LIST, "SizeTensor"}, {A_OPT, "Scale"}},
     "Out",
     "data_format=data_layout"},
    {"bilinear_interp",
     "bilinear_interp_v2",
     {{A_T, "X"}, {A_OPT, "OutSize"}, {A_LIST, "SizeTensor"}, {A_OPT, "Scale"}},
     "Out",
     "data_format=data_layout"},
    {"dropout",
     "dropout",
     {{A_T, "X"}, {A_SKIP}, {A_FLOAT, "dropout_prob"}},
     "Out",
     "p=dropout_prob mode=dropout_implementation"},
    {"relu", "relu", {{A_T, "X"}}, "Out"},
    {"relu6", "relu6", {{A_T, "X"}}, "Out"},
    {"leaky_relu", "leaky_relu", {{A_T, "X"}}, "Out", "negative_slope=alpha"},
    {"sigmoid", "sigmoid", {{A_T, "X"}}, "Out"},
    {"tanh", "tanh", {{A_T, "X"}}, "Out"},
    {"swish", "swish", {{A_T, "X"}}, "Out"},
    {"hardswish", "hard_swish", {{A_T, "X"}}, "Out"},
    {"hardsigmoid", "hard_sigmoid", {{A_T, "X"}}, "Out"},
    {"softmax", "softmax", {{A_T, "X"}}, "Out"},
    {"exp", "exp", {{A_T, "X"}}, "Out"},
    {"sqrt", "sqrt", {{A_T, "X"}}, "Out"},
    {"abs", "abs", {{A_T, "X"}}, "Out"},
    {"reciprocal", "reciprocal", {{A_T, "X"}}, "Out"},
    {"floor", "floor", {{A_T, "X"}}, "Out"},
    {"ceil", "ceil", {{A_T, "X"}}, "Out"},
    {"log", "log", {{A_T, "X"}}, "Out"},
    {"sin", "sin", {{A_T, "X"}}, "Out"},
    {"cos", "cos", {{A_T, "X"}}, "Out"},
    {"sign", "sign", {{A_T, "X"}}, "Out"},
    {"erf", "erf", {{A_T, "X"}}, "Out"},
    {"square", "square", {{A_T, "X"}}, "Out"},
    {"rsqrt", "rsqrt", {{A_T, "X"}}, "Out"},
    {"silu", "silu", {{A_T, "X"}}, "Out"},
    {"mish", "mish", {{A_T, "X"}}, "Out"},
    {"gelu", "gelu", {{A_T, "X"}}, "Out"},
    {"elu", "elu", {{A_T, "X"}}, "Out"},
    {"selu", "selu", {{A_T, "X"}}, "Out"},
    {"softplus", "softplus", {{A_T, "X"}}, "Out"},
    {"log_softmax", "log_softmax", {{A_T, "X"}}, "Out"},
    {"logsigmoid", "logsigmoid", {{A_T, "X"}}, "Out"},
    {"hardshrink", "hard_shrink", {{A_T, "X"}}, "Out"},
    {"assign", "assign", {{A_T, "X"}}, "Out"},
    {"bmm", "bmm", {{A_T, "X"}, {A_T, "Y"}}, "Out"},
    {"pow", "pow", {{A_T, "X"}}, "Out", "y=factor"},
    {"clip", "clip", {{A_T, "X"}, {A_FLOAT, "min", "Min"}, {A_FLOAT, "max", "Max"}}, "Out"},
    {"layer_norm", "layer_norm", {{A_T, "X"}, {A_OPT, "Scale"}, {A_OPT, "Bias"}}, "Y"},
    {"instance_norm", "instance_norm", {{A_T, "X"}, {A_OPT, "Scale"}, {A_OPT, "Bias"}}, "Y"},
    {"prelu", "prelu", {{A_T, "X"}, {A_T, "Alpha"}}, "Out"},
    {"squeeze", "squeeze2", {{A_T, "X"}, {A_INTS, "axes"}}, "Out", "axis=axes"},
    {"unsqueeze", "unsqueeze2", {{A_T, "X"}, {A_INTS, "axes", "AxesTensor"}}, "Out", "axis=axes"},
    {"stack", "stack", {{A_LIST, "X"}}, "Y"},
    {"tile", "tile", {{A_T, "X"}, {A_INTS, "repeat_times"}}, "Out"},
    {"expand", "expand_v2", {{A_T, "X"}, {A_INTS, "shape", "Shape"}}, "Out"},
    {"gather", "gather", {{A_T, "X"}, {A_T, "Index"}, {A_INT, "axis", "Axis"}}, "Out"},
    {"gather_nd", "gather_nd", {{A_T, "X"}, {A_T, "Index"}}, "Out"},
    {"where", "where", {{A_T, "Condition"}, {A_T, "X"}, {A_T, "Y"}}, "Out"},
    {"argmax", "arg_max", {{A_T, "X"}, {A_INT, "axis"}}, "Out"},
    {"argmin", "arg_min", {{A_T, "X"}, {A_INT, "axis"}}, "Out"},
    {"cumsum", "cumsum", {{A_T, "X"}, {A_INT, "axis"}}, "Out"},
    {"mean", "reduce_mean", {{A_T, "X"}, {A_INTS, "dim"}}, "Out", "keepdim=keep_dim"},
    {"sum", "reduce_sum", {{A_T, "X"}, {A_INTS, "dim"}}, "Out", "keepdim=keep_dim"},
    {"max", "reduce_max", {{A_T, "X"}, {A_INTS, "dim"}}, "Out", "keepdim=keep_dim"},
    {"min", "reduce_min", {{A_T, "X"}, {A_INTS, "dim"}}, "Out", "keepdim=keep_dim"},
    {"prod", "reduce_prod", {{A_T, "X"}, {A_INTS, "dim"}}, "Out", "keepdim=keep_dim"},
    {"equal", "equal", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"not_equal", "not_equal", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"less_than", "less_than", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"less_equal", "less_equal", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"greater_than", "greater_than", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"greater_equal", "greater_equal", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"elementwise_pow", "elementwise_pow", {{A_T, "X"}, {A_T, "Y"}}, "Out", NULL, true},
    {"logical_and", "logical_and", {{A_T, "X"}, {A_T, "Y"}}, "Out"},
    {"logical_or", "logical_or", {{A_T, "X"}, {A_T, "Y"}}, "Out"},
    {"logical_not", "logical_not", {{A_T, "X"}}, "Out"},
};

/* The rule of pd_op `name` (an inplace variant, `relu_`, as its op). */
static const pir_rule *find_rule(const char *name)
{
    size_t n = strlen(name);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
            if (strlen(rules[i].pir) == n && !strncmp(rules[i].pir, name, n))
                return &rules[i];
        if (n < 2 || name[n - 1] != '_')
            break;
        n--;
    }
    return NULL;
}

/* The legacy name of attribute `name` under renames ("a=b c=d"). */
static const char *renamed(const char *renames, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    for (const char *r = renames; r && *r;) {
        const char *eq = strchr(r, '='), *end = strchr(r, ' ');
        if (!end)
            end = r + strlen(r);
        if (eq && eq < end && (size_t)(eq - r) == n && !strncmp(r, name, n)) {
            snprintf(buf, cap, "%.*s", (int)(end - eq - 1), eq + 1);
            return buf;
        }
        r = *end ? end + 1 : end;
    }
    return name;
}

/* A list operand's elements into slot `slot` of o. */
static skiff_status_t *list_slot(pir *p, pd_op *o, const pval *v, size_t k, const char *slot)
{
    Paddle__Framework__Proto__OpDesc__Var *s = add_slot(p, o, false, slot, (size_t)v->n);
    if (!s)
        return OOM();
    for (int i = 0; i < v->n; i++) {
        const char *name;
        skiff_status_t *st = tensor_of(p, v->iv[i], k, &name);
        if (st)
            return st;
        s->arguments[s->n_arguments++] = (char *)name;
    }
    return NULL;
}

/* Operand k (value id) of rule argument `a` into o. */
static skiff_status_t *rule_operand(pir *p, pd_op *o, const pir_arg *a, size_t k, int64_t id)
{
    const char *name;
    pval *v;
    skiff_status_t *st;
    if (a->kind == A_SKIP || (id == 0 && a->kind != A_T))
        return NULL;
    if (a->kind == A_T || a->kind == A_OPT) {
        if (id == 0)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "operand %zu (%s) is missing", k,
                                    a->name);
        if ((st = tensor_of(p, id, k, &name)))
            return st;
        return add_slot1(p, o, false, a->name, name) ? NULL : OOM();
    }
    if ((st = need_val(p, id, k, &v)))
        return st;
    if (a->kind == A_LIST) {
        if (v->kind != PV_LIST)
            return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                    "operand %zu (%s) is not a list (builtin.combine)", k, a->name);
        return list_slot(p, o, v, k, a->name);
    }
    /* an attribute from a constant, or a tensor input */
    if (v->kind == PV_CONST && (a->kind == A_INTS ? v->n >= 0 : v->n == 1)) {
        pd_attr *at = a->kind == A_INTS  ? attr_longs(p, a->name, v->iv, v->n)
                      : a->kind == A_INT ? attr_int(p, a->name, v->iv[0])
                                         : attr_float(p, a->name, v->fv[0]);
        if (!at)
            return OOM();
        o->attrs[o->n_attrs++] = at;
        return NULL;
    }
    if (v->kind == PV_LIST && a->list)
        return list_slot(p, o, v, k, a->list);
    if (!a->slot)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "operand %zu (%s) must be a constant (pd_op.full_int_array or "
                                "pd_op.full), it is a result of %s",
                                k, a->name, v->producer);
    if ((st = tensor_of(p, id, k, &name)))
        return st;
    return add_slot1(p, o, false, a->slot, name) ? NULL : OOM();
}

static skiff_status_t *tr_rule(pir *p, const pir_rule *r, const json_t *op, const char *opname)
{
    const json_t *ins = json_object_get(op, "I"), *outs = json_object_get(op, "O"),
                 *attrs = json_object_get(op, "A");
    size_t n_args = 0;
    while (n_args < 5 && r->args[n_args].kind)
        n_args++;
    if (json_array_size(ins) > n_args)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%zu operands (skiff knows %zu)",
                                json_array_size(ins), n_args);
    if (json_array_size(outs) == 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "no result");
    size_t n_attrs = json_array_size(attrs);
    if (n_attrs > 256)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "%zu attributes", n_attrs);
    pd_op *o = new_op(p, r->legacy, n_args * 2, n_attrs + n_args + 1);
    if (!o)
        return OOM();
    skiff_status_t *st = NULL;
    for (size_t k = 0; !st && k < n_args; k++) {
        int64_t id;
        if (!(st = operand_id(ins, k, &id)))
            st = rule_operand(p, o, &r->args[k], k, id);
    }
    for (size_t i = 0; !st && i < n_attrs; i++) {
        const json_t *a = json_array_get(attrs, i);
        const char *name = json_string_value(json_object_get(a, "N"));
        char buf[64];
        pd_attr *at;
        if (!name)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "attribute %zu has no name", i);
        if (!strcmp(name, "struct_name") || !strcmp(name, "place"))
            continue;
        if (!(st = conv_attr(p, json_object_get(a, "AT"), renamed(r->renames, name, buf, 64),
                             &at)) &&
            at)
            o->attrs[o->n_attrs++] = at;
    }
    if (!st && r->axis_m1 && !(o->attrs[o->n_attrs++] = attr_int(p, "axis", -1)))
        st = OOM();
    const char *out;
    if (!st && !(st = define_var(p, json_array_get(outs, 0), opname, &out)) &&
        !add_slot1(p, o, true, r->out, out))
        st = OOM();
    if (!st && !push_op(p, o))
        st = OOM();
    return st ? st : define_rest(p, outs, 1, PV_DROPPED, opname);
}

/* ---- the program ------------------------------------------------------------------ */

/* "1.conv2d" -> "pd_op.conv2d" (dialects by their number), "p" ->
 * "builtin.parameter". */
static void op_full_name(const char *id, char *buf, size_t cap)
{
    static const char *const dialects[] = {"builtin", "pd_op", "cf", "custom_op", "dist_op"};
    const char *dot = strchr(id, '.');
    if (!strcmp(id, "p")) {
        snprintf(buf, cap, "builtin.parameter");
        return;
    }
    if (dot && dot - id == 1 && id[0] >= '0' && id[0] <= '4') {
        snprintf(buf, cap, "%s.%s", dialects[id[0] - '0'], dot + 1);
        return;
    }
    snprintf(buf, cap, "%s", id);
}

enum { KINDS = 64 };

typedef struct missing {
    const char *kind[KINDS];
    int count[KINDS], n_kinds, n;
} missing;

static void note_missing(missing *m, const char *name)
{
    m->n++;
    int k = 0;
    while (k < m->n_kinds && strcmp(m->kind[k], name) != 0)
        k++;
    if (k == m->n_kinds && m->n_kinds < KINDS) {
        m->kind[m->n_kinds] = name;
        m->count[m->n_kinds++] = 0;
    }
    if (k < m->n_kinds)
        m->count[k]++;
}

/* One op; *known false for an op with no translation. */
static skiff_status_t *tr_op(pir *p, const json_t *op, const char *id, const char *opname,
                             bool *known)
{
    *known = true;
    if (!strcmp(id, "p"))
        return tr_param(p, op, opname);
    if (!strcmp(id, "1.data"))
        return tr_data(p, op, opname);
    if (!strcmp(id, "1.fetch"))
        return tr_fetch(p, op, opname);
    if (!strcmp(id, "1.full_int_array") || !strcmp(id, "1.full"))
        return tr_const(p, op, opname, !strcmp(id, "1.full_int_array"));
    if (!strcmp(id, "0.combine"))
        return tr_combine(p, op, opname);
    const pir_rule *r = !strncmp(id, "1.", 2) ? find_rule(id + 2) : NULL;
    if (r)
        return tr_rule(p, r, op, opname);
    *known = false;
    return NULL;
}

/* The fetched values and their names: each value fetched once, under a name
 * no other fetch uses. */
static void collect_fetches(pir *p, const json_t *ops)
{
    int n = 0;
    for (size_t i = 0; i < json_array_size(ops); i++) {
        const json_t *op = json_array_get(ops, i);
        const char *id = json_string_value(json_object_get(op, "#"));
        if (!id || strcmp(id, "1.fetch") != 0)
            continue;
        const json_t *v = json_object_get(json_array_get(json_object_get(op, "I"), 0), "%");
        const char *name = json_string_value(json_object_get(op_attr(op, "name"), "D"));
        if (n == 64)
            return;
        p->fetch_id[n] = json_is_integer(v) ? json_integer_value(v) : 0;
        p->fetch_name[n++] = name && name[0] && strlen(name) <= 1024 ? name : NULL;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j &&
                (p->fetch_id[i] == p->fetch_id[j] || (p->fetch_name[i] && p->fetch_name[j] &&
                                                      !strcmp(p->fetch_name[i], p->fetch_name[j]))))
                p->fetch_name[i] = NULL;
    p->n_fetch_names = n;
}

static skiff_status_t *translate(pir *p, const json_t *ops)
{
    missing m = {0};
    collect_fetches(p, ops);
    for (size_t i = 0; i < json_array_size(ops); i++) {
        const json_t *op = json_array_get(ops, i);
        const char *id = json_string_value(json_object_get(op, "#"));
        if (!id)
            return skiff_status_new(SKIFF_CODE_INVALID_ARG, "op %zu has no name (\"#\")", i);
        char opname[96];
        op_full_name(id, opname, sizeof(opname));
        const char *producer = ar_strdup(p, opname);
        if (!producer)
            return OOM();
        bool known;
        skiff_status_t *st = tr_op(p, op, id, producer, &known);
        if (st && skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED)
            return st;
        if (st && m.n) {
            /* Likely a use of a result of an op skiff cannot translate: the
             * list of those is the error to give. */
            const json_t *outs = json_object_get(op, "O");
            skiff_status_free(st);
            st = define_rest(p, json_is_array(outs) ? outs : NULL, 0, PV_UNKNOWN, producer);
            if (st && skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED)
                return st;
            skiff_status_free(st);
            continue;
        }
        if (st)
            return skiff_status_wrap(st, "op %zu (%s)", i, opname);
        if (known)
            continue;
        note_missing(&m, producer);
        const json_t *outs = json_object_get(op, "O");
        st = define_rest(p, json_is_array(outs) ? outs : NULL, 0, PV_UNKNOWN, producer);
        if (st && skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED)
            return st;
        skiff_status_free(st);
    }
    if (!m.n)
        return NULL;
    char msg[1536];
    size_t off = 0;
    for (int k = 0; k < m.n_kinds && off < sizeof(msg); k++)
        off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%s x%d", k ? ", " : "", m.kind[k],
                                m.count[k]);
    return skiff_status_new(SKIFF_CODE_UNSUPPORTED, "unsupported Paddle operator%s: %s",
                            m.n_kinds > 1 ? "s" : "", msg);
}

/* The program's ops: program.regions[0].blocks[0].ops, after the checks of
 * base_code. */
static skiff_status_t *program_ops(const json_t *root, const json_t **ops)
{
    const json_t *base = json_object_get(root, "base_code");
    const char *magic = json_string_value(json_object_get(base, "magic"));
    const json_t *ver = json_object_get(base, "version");
    if (!json_is_object(root) || !magic)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "not a Paddle PIR program (no base_code.magic)");
    if (strcmp(magic, "pir") != 0)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "not a Paddle PIR program (base_code.magic is '%.64s', 'pir' "
                                "expected)",
                                magic);
    if (!json_is_integer(ver) || json_integer_value(ver) != 1)
        return skiff_status_new(SKIFF_CODE_UNSUPPORTED,
                                "PIR program version %lld is not supported (only version 1)",
                                json_is_integer(ver) ? (long long)json_integer_value(ver) : -1LL);
    const json_t *regions = json_object_get(json_object_get(root, "program"), "regions");
    const json_t *blocks = json_object_get(json_array_get(regions, 0), "blocks");
    if (json_array_size(regions) != 1 || json_array_size(blocks) != 1)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "a PIR program of %zu regions and %zu blocks (one of each "
                                "expected)",
                                json_array_size(regions), json_array_size(blocks));
    *ops = json_object_get(json_array_get(blocks, 0), "ops");
    if (!json_is_array(*ops))
        return skiff_status_new(SKIFF_CODE_INVALID_ARG, "a PIR program without ops");
    return NULL;
}

skiff_status_t *skiff__paddle_pir_parse(const char *dir, const char *model_path,
                                        const char *params_path, skiff__graph **out_graph)
{
    const void *buf;
    size_t size;
    skiff_status_t *st = skiff__map_file(model_path, &buf, &size);
    if (st)
        return st;
    json_error_t err;
    json_t *root = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &err);
    skiff__unmap_file(buf, size);
    if (!root)
        return skiff_status_new(SKIFF_CODE_INVALID_ARG,
                                "Paddle model %s: not a Paddle PIR program: invalid JSON at line "
                                "%d, column %d: %s",
                                model_path, err.line, err.column, err.text);
    pir p = {0};
    pd_block block = PADDLE__FRAMEWORK__PROTO__BLOCK_DESC__INIT;
    block.parent_idx = -1;
    p.b = &block;
    const json_t *ops = NULL;
    st = program_ops(root, &ops);
    if (!st)
        st = translate(&p, ops);
    json_decref(root);
    if (!st)
        st = skiff__paddle_graph(&block, dir, model_path, params_path, out_graph);
    pir_free(&p);
    return skiff_status_wrap(st, "Paddle model %s", model_path);
}
