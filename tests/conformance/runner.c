/* runner.c - runs the ONNX backend conformance cases against skiff's engine.
 *
 * Each case directory (written by tools/gen_conformance.py) holds model.onnx
 * and test_data_set_N/{input_K.pb,output_K.pb}. input_K.pb feeds the K-th
 * graph input that is not an initializer; output_K.pb is the expected K-th
 * graph output. A case passes when every data set's outputs match: floats
 * within atol 1e-4 + rtol 1e-3 (NaN equals NaN; bfloat16 within one bfloat16
 * step), integers, bools and strings exactly, shapes and types exactly.
 * Outputs of a graph holding a random op (RandomUniform, Bernoulli...) are
 * checked for type, shape and range only (graph_random_kind).
 *
 * A case is skipped when the engine answers SKIFF_CODE_UNSUPPORTED (an op or
 * data type it does not implement) or the case feeds sequences/optionals,
 * which a tensor-only engine cannot take. Anything else is a failure with a
 * one-line reason.
 *
 * Every case runs in a forked child with a deadline, so a crash or a hang in
 * one kernel is one failed case, not a dead runner. The parent never touches
 * the engine, so no OpenMP or oneDNN state exists at fork time. Children
 * report through a pipe with a single write below PIPE_BUF, which is atomic.
 *
 * The last line printed is always "N passed, M failed, K skipped". With
 * --expected FILE, failures of listed cases are counted as xfail instead of
 * failed, and listed cases that now pass are reported so the list can shrink.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine_int.h"

#ifndef SKIFF_CONFORMANCE_DATA
#define SKIFF_CONFORMANCE_DATA "tests/conformance/data"
#endif

#define RTOL 1e-3
#define ATOL 1e-4
#define REASON_CAP 480
#define PATH_CAP 4096

typedef enum { R_PENDING = 0, R_PASS, R_FAIL, R_SKIP, R_XFAIL } result_kind;

typedef struct case_t {
    char *name;
    char *op;       /* operator label from meta.txt ("Softmax", "Softmax (expanded)") */
    bool tensor_io; /* false: the case feeds/returns sequences or optionals */
    bool expected_fail;
    result_kind result;
    char reason[REASON_CAP];
    double ms;
} case_t;

typedef struct options {
    const char *data;
    const char **filters;
    int n_filters;
    bool verbose;
    bool engine_log;
    const char *ops_table;
    bool list_failures;
    const char *expected;
    const char *update_expected;
    int jobs;
    int threads;
    double timeout_s;
    bool optimize;
} options;

/* ------------------------------------------------------------------ utils */

static void die(const char *msg)
{
    fprintf(stderr, "conformance: %s\n", msg);
    exit(2);
}

static char *xstrdup(const char *s)
{
    char *p = skiff__strdup(s);
    if (!p)
        die("out of memory");
    return p;
}

/* Makes a message fit on one line of the report. */
static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r' || *s == '\t')
            *s = ' ';
}

/* snprintf for paths and labels: false (and an empty string) when the result
 * would not fit, so a truncated path is never opened. A function rather than
 * direct snprintf calls also keeps -Wformat-truncation quiet about lengths
 * that are checked here. */
static bool fmt_buf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool fmt_buf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            buf[0] = '\0';
        return false;
    }
    return true;
}

static bool is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int cmp_case(const void *a, const void *b)
{
    return strcmp(((const case_t *)a)->name, ((const case_t *)b)->name);
}

/* Reads meta.txt's op= and tensor_io= lines; missing file = defaults. */
static void read_meta(const char *dir, case_t *c)
{
    char path[PATH_CAP];
    fmt_buf(path, sizeof path, "%s/meta.txt", dir);
    c->op = NULL;
    c->tensor_io = true;
    FILE *f = fopen(path, "r");
    if (f) {
        char line[512];
        bool expanded = false;
        char op[256] = "";
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strncmp(line, "op=", 3) == 0)
                fmt_buf(op, sizeof op, "%s", line + 3);
            else if (strcmp(line, "expanded=1") == 0)
                expanded = true;
            else if (strcmp(line, "tensor_io=0") == 0)
                c->tensor_io = false;
        }
        fclose(f);
        if (op[0]) {
            char label[300];
            fmt_buf(label, sizeof label, "%s%s", op, expanded ? " (expanded)" : "");
            c->op = xstrdup(label);
        }
    }
    if (!c->op)
        c->op = xstrdup("?");
}

static bool matches_filter(const options *o, const char *name)
{
    if (o->n_filters == 0)
        return true;
    for (int i = 0; i < o->n_filters; i++)
        if (strstr(name, o->filters[i]))
            return true;
    return false;
}

static case_t *collect_cases(const options *o, int *out_n)
{
    DIR *d = opendir(o->data);
    if (!d) {
        fprintf(stderr,
                "conformance: cannot open data directory '%s': %s\n"
                "  (generate it with tools/gen_conformance.py)\n",
                o->data, strerror(errno));
        exit(2);
    }
    int n = 0, cap = 0;
    case_t *cases = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (!matches_filter(o, e->d_name))
            continue;
        char dir[PATH_CAP], model[PATH_CAP];
        fmt_buf(dir, sizeof dir, "%s/%s", o->data, e->d_name);
        fmt_buf(model, sizeof model, "%s/model.onnx", dir);
        if (!is_dir(dir) || !is_file(model))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            case_t *nc = skiff__realloc(cases, (size_t)cap * sizeof *cases);
            if (!nc)
                die("out of memory");
            cases = nc;
        }
        memset(&cases[n], 0, sizeof cases[n]);
        cases[n].name = xstrdup(e->d_name);
        read_meta(dir, &cases[n]);
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(cases, (size_t)n, sizeof *cases, cmp_case);
    *out_n = n;
    return cases;
}

/* Marks cases named in the expected-failures file (one name per line, '#'
 * starts a comment). */
static void read_expected(const char *path, case_t *cases, int n)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "conformance: cannot read --expected '%s': %s\n", path, strerror(errno));
        exit(2);
    }
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        s[strcspn(s, " \t\r\n")] = '\0';
        if (!*s)
            continue;
        for (int i = 0; i < n; i++)
            if (strcmp(cases[i].name, s) == 0)
                cases[i].expected_fail = true;
    }
    fclose(f);
}

/* ------------------------------------------------------- the child's work */

static bool is_float_type(skiff_dtype_t t)
{
    return t == SKIFF_DTYPE_FLOAT32 || t == SKIFF_DTYPE_FLOAT64 || t == SKIFF_DTYPE_FLOAT16 ||
           t == SKIFF_DTYPE_BFLOAT16;
}

static double float_at(const skiff_tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case SKIFF_DTYPE_FLOAT32: return ((const float *)t->data)[i];
    case SKIFF_DTYPE_FLOAT64: return ((const double *)t->data)[i];
    case SKIFF_DTYPE_FLOAT16: return skiff__f16_to_f32(((const uint16_t *)t->data)[i]);
    case SKIFF_DTYPE_BFLOAT16: return skiff__bf16_to_f32(((const uint16_t *)t->data)[i]);
    default: return NAN;
    }
}

/* Raw element bits of an integer / bool tensor, compared exactly. */
static uint64_t bits_at(const skiff_tensor_t *t, int64_t i)
{
    switch (skiff_dtype_size(t->dtype)) {
    case 1: return ((const uint8_t *)t->data)[i];
    case 2: return ((const uint16_t *)t->data)[i];
    case 4: return ((const uint32_t *)t->data)[i];
    case 8: return ((const uint64_t *)t->data)[i];
    default: return 0;
    }
}

static bool is_signed_int(skiff_dtype_t t)
{
    return t == SKIFF_DTYPE_INT8 || t == SKIFF_DTYPE_INT16 || t == SKIFF_DTYPE_INT32 ||
           t == SKIFF_DTYPE_INT64;
}

static void int_str(const skiff_tensor_t *t, int64_t i, char *buf, size_t cap)
{
    if (is_signed_int(t->dtype)) {
        snprintf(buf, cap, "%lld", (long long)skiff__tensor_get_i64(t, i));
    } else if (t->dtype == SKIFF_DTYPE_BOOL) {
        snprintf(buf, cap, "%s", bits_at(t, i) ? "true" : "false");
    } else {
        snprintf(buf, cap, "%llu", (unsigned long long)bits_at(t, i));
    }
}

/* Compares one output; on mismatch writes a reason and returns false. */
static bool compare_output(int k, const char *name, const skiff_tensor_t *got,
                           const skiff_tensor_t *exp, bool shape_only, char *reason, size_t cap)
{
    char gs[128], es[128];
    if (!got) {
        snprintf(reason, cap, "output %d '%s': engine returned no tensor", k, name);
        return false;
    }
    if (got->dtype != exp->dtype) {
        snprintf(reason, cap, "output %d '%s': dtype %s, expected %s", k, name,
                 skiff_dtype_name(got->dtype), skiff_dtype_name(exp->dtype));
        return false;
    }
    bool same_shape = got->ndim == exp->ndim;
    for (int d = 0; same_shape && d < got->ndim; d++)
        same_shape = got->dims[d] == exp->dims[d];
    if (!same_shape) {
        snprintf(reason, cap, "output %d '%s': shape %s, expected %s", k, name,
                 skiff_shape_str(got->ndim, got->dims, gs, sizeof gs),
                 skiff_shape_str(exp->ndim, exp->dims, es, sizeof es));
        return false;
    }
    int64_t n = skiff_tensor_numel(exp);
    if (n > 0 && (!got->data || !exp->data)) {
        snprintf(reason, cap, "output %d '%s': tensor has no data", k, name);
        return false;
    }
    if (shape_only)
        return true;
    int64_t bad = 0, first = -1;
    double max_abs = 0.0;
    if (is_float_type(exp->dtype)) {
        /* bfloat16 keeps 8 significant bits: allow one bfloat16 step, since
         * onnx's reference truncates where engines round to nearest. */
        double rtol = exp->dtype == SKIFF_DTYPE_BFLOAT16 ? 1.0 / 128.0 : RTOL;
        for (int64_t i = 0; i < n; i++) {
            double g = float_at(got, i), e = float_at(exp, i);
            bool ok;
            if (isnan(e) || isnan(g))
                ok = isnan(e) && isnan(g);
            else if (isinf(e) || isinf(g))
                ok = g == e;
            else {
                double diff = fabs(g - e);
                if (diff > max_abs)
                    max_abs = diff;
                ok = diff <= ATOL + rtol * fabs(e);
            }
            if (!ok) {
                if (first < 0)
                    first = i;
                bad++;
            }
        }
        if (bad) {
            snprintf(reason, cap,
                     "output %d '%s' %s: %lld/%lld elements differ; first at %lld: got %.9g, "
                     "expected %.9g (max abs err %.3g)",
                     k, name, skiff_shape_str(exp->ndim, exp->dims, es, sizeof es), (long long)bad,
                     (long long)n, (long long)first, float_at(got, first), float_at(exp, first),
                     max_abs);
            return false;
        }
        return true;
    }
    if (exp->dtype == SKIFF_DTYPE_STRING) {
        const char *const *gv = got->data, *const *ev = exp->data;
        for (int64_t i = 0; i < n; i++) {
            const char *g = gv[i] ? gv[i] : "", *e = ev[i] ? ev[i] : "";
            if (strcmp(g, e) != 0) {
                if (first < 0)
                    first = i;
                bad++;
            }
        }
        if (bad) {
            snprintf(reason, cap,
                     "output %d '%s': %lld/%lld strings differ; first at %lld: "
                     "got \"%.60s\", expected \"%.60s\"",
                     k, name, (long long)bad, (long long)n, (long long)first,
                     gv[first] ? gv[first] : "", ev[first] ? ev[first] : "");
            return false;
        }
        return true;
    }
    if (skiff_dtype_size(exp->dtype) == 0) {
        snprintf(reason, cap, "output %d '%s': cannot compare dtype %s", k, name,
                 skiff_dtype_name(exp->dtype));
        return false;
    }
    bool boolean = exp->dtype == SKIFF_DTYPE_BOOL;
    for (int64_t i = 0; i < n; i++) {
        uint64_t g = bits_at(got, i), e = bits_at(exp, i);
        if (boolean ? ((g != 0) != (e != 0)) : g != e) {
            if (first < 0)
                first = i;
            bad++;
        }
    }
    if (bad) {
        int_str(got, first, gs, sizeof gs);
        int_str(exp, first, es, sizeof es);
        snprintf(reason, cap,
                 "output %d '%s': %lld/%lld elements differ; first at %lld: got %s, "
                 "expected %s",
                 k, name, (long long)bad, (long long)n, (long long)first, gs, es);
        return false;
    }
    return true;
}

static skiff_status_t *read_pb(const char *path, skiff_tensor_t **out)
{
    void *buf = NULL;
    size_t size = 0;
    skiff_status_t *st = skiff__read_file(path, &buf, &size);
    if (st)
        return st;
    st = skiff__onnx_read_tensor(buf, size, out, NULL);
    skiff__free(buf);
    return st;
}

static int count_files(const char *dir, const char *prefix)
{
    int n = 0;
    char path[PATH_CAP];
    for (;;) {
        fmt_buf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n);
        if (!is_file(path))
            return n;
        n++;
    }
}

/* Random ops draw values no other engine reproduces, so a graph holding one
 * is checked for output types and shapes only, plus the range its values
 * must have: 0 or 1 from Bernoulli, no NaN from the others. */
typedef enum { RAND_NONE = 0, RAND_ANY, RAND_BERNOULLI } random_kind;

static random_kind graph_random_kind(const skiff_model_t *m, const char *op_label)
{
    static const char *const ops[] = {"RandomUniform",    "RandomNormal", "RandomUniformLike",
                                      "RandomNormalLike", "Multinomial",  "Bernoulli"};
    bool any = false;
    for (int i = 0; i < m->g->n_nodes; i++)
        for (size_t j = 0; j < sizeof(ops) / sizeof(ops[0]); j++)
            any |= strcmp(m->g->nodes[i].op_type, ops[j]) == 0;
    if (!any)
        return RAND_NONE;
    /* "Bernoulli" and "Bernoulli (expanded)": the latter draws with
     * RandomUniformLike and thresholds. */
    return op_label && strncmp(op_label, "Bernoulli", 9) == 0 ? RAND_BERNOULLI : RAND_ANY;
}

/* The range check for a random output (types and shapes already match). */
static bool check_random(int k, const char *name, const skiff_tensor_t *got, random_kind rk,
                         char *reason, size_t cap)
{
    int64_t n = skiff_tensor_numel(got);
    for (int64_t i = 0; i < n; i++) {
        bool f = is_float_type(got->dtype);
        double v = f ? float_at(got, i) : (double)bits_at(got, i);
        if (rk == RAND_BERNOULLI ? !(v == 0.0 || v == 1.0) : isnan(v)) {
            snprintf(reason, cap, "output %d '%s': random element %lld is %g, %s", k, name,
                     (long long)i, v, rk == RAND_BERNOULLI ? "expected 0 or 1" : "NaN");
            return false;
        }
    }
    return true;
}

/* Runs one data set; returns the result kind and fills reason. */
static result_kind run_data_set(const options *o, const skiff_model_t *model, skiff_context_t *ctx,
                                random_kind rk, const char *ds, char *reason, size_t cap)
{
    int n_in = count_files(ds, "input"), n_out = count_files(ds, "output");
    int m_in = skiff_model_input_count(model), m_out = skiff_model_output_count(model);
    if (n_in != m_in) {
        snprintf(reason, cap, "model has %d inputs, the data set provides %d", m_in, n_in);
        return R_FAIL;
    }
    if (n_out != m_out) {
        snprintf(reason, cap, "model has %d outputs, the data set expects %d", m_out, n_out);
        return R_FAIL;
    }
    skiff_tensor_t **ins = skiff__calloc((size_t)n_in + 1, sizeof *ins);
    skiff_tensor_t **exps = skiff__calloc((size_t)n_out + 1, sizeof *exps);
    const skiff_tensor_t **outs = skiff__calloc((size_t)n_out + 1, sizeof *outs);
    result_kind r = R_PASS;
    char path[PATH_CAP];
    if (!ins || !exps || !outs) {
        snprintf(reason, cap, "runner out of memory");
        r = R_FAIL;
        goto done;
    }
    for (int k = 0; k < n_in && r == R_PASS; k++) {
        fmt_buf(path, sizeof path, "%s/input_%d.pb", ds, k);
        skiff_status_t *st = read_pb(path, &ins[k]);
        if (st) {
            snprintf(reason, cap, "reading input_%d.pb: %s", k, skiff_status_message(st));
            r = R_FAIL;
            skiff_status_free(st);
        }
    }
    for (int k = 0; k < n_out && r == R_PASS; k++) {
        fmt_buf(path, sizeof path, "%s/output_%d.pb", ds, k);
        skiff_status_t *st = read_pb(path, &exps[k]);
        if (st) {
            snprintf(reason, cap, "reading output_%d.pb: %s", k, skiff_status_message(st));
            r = R_FAIL;
            skiff_status_free(st);
        }
    }
    if (r != R_PASS)
        goto done;
    /* numpy has no bfloat16, so onnx's generator stores bfloat16 data as
     * uint16 tensors while the graph declares bfloat16: relabel by the
     * declared type (same bits). */
    for (int k = 0; k < n_in; k++) {
        const skiff_value_info_t *info = skiff_model_input(model, k);
        if (info && info->dtype == SKIFF_DTYPE_BFLOAT16 && ins[k]->dtype == SKIFF_DTYPE_UINT16)
            ins[k]->dtype = SKIFF_DTYPE_BFLOAT16;
    }
    for (int k = 0; k < n_out; k++) {
        const skiff_value_info_t *info = skiff_model_output(model, k);
        if (info && info->dtype == SKIFF_DTYPE_BFLOAT16 && exps[k]->dtype == SKIFF_DTYPE_UINT16)
            exps[k]->dtype = SKIFF_DTYPE_BFLOAT16;
    }
    skiff_status_t *st = skiff_context_run(ctx, (const skiff_tensor_t *const *)ins, n_in, outs);
    if (st) {
        r = skiff_status_code(st) == SKIFF_CODE_UNSUPPORTED ? R_SKIP : R_FAIL;
        snprintf(reason, cap, "run: %s: %s", skiff_code_name(skiff_status_code(st)),
                 skiff_status_message(st));
        skiff_status_free(st);
        goto done;
    }
    for (int k = 0; k < n_out; k++) {
        const skiff_value_info_t *info = skiff_model_output(model, k);
        const char *name = info && info->name ? info->name : "?";
        if (!compare_output(k, name, outs[k], exps[k], rk != RAND_NONE, reason, cap) ||
            (rk != RAND_NONE && !check_random(k, name, outs[k], rk, reason, cap))) {
            r = R_FAIL;
            break;
        }
    }
done:
    for (int k = 0; ins && k < n_in; k++)
        skiff_tensor_free(ins[k]);
    for (int k = 0; exps && k < n_out; k++)
        skiff_tensor_free(exps[k]);
    skiff__free(ins);
    skiff__free(exps);
    skiff__free(outs);
    (void)o;
    return r;
}

static result_kind run_case(const options *o, const case_t *c, char *reason, size_t cap)
{
    char dir[PATH_CAP], path[PATH_CAP];
    fmt_buf(dir, sizeof dir, "%s/%s", o->data, c->name);
    fmt_buf(path, sizeof path, "%s/model.onnx", dir);
    skiff_model_options_t mo = {.optimize = o->optimize ? 1 : 0, .verbose = o->engine_log ? 1 : 0};
    skiff_model_t *model = NULL;
    skiff_status_t *st = skiff_model_load(path, &mo, &model);
    if (st) {
        result_kind r = skiff_status_code(st) == SKIFF_CODE_UNSUPPORTED ? R_SKIP : R_FAIL;
        /* The loader prefixes "loading '<path>': "; the case name says that. */
        const char *msg = skiff_status_message(st);
        char prefix[PATH_CAP + 16];
        if (fmt_buf(prefix, sizeof prefix, "loading '%s': ", path) &&
            strncmp(msg, prefix, strlen(prefix)) == 0)
            msg += strlen(prefix);
        snprintf(reason, cap, "load: %s: %s", skiff_code_name(skiff_status_code(st)), msg);
        skiff_status_free(st);
        return r;
    }
    if (!c->tensor_io) {
        snprintf(reason, cap, "sequence/optional inputs or outputs (tensor-only engine)");
        skiff_model_free(model);
        return R_SKIP;
    }
    skiff_context_options_t co = {.threads = o->threads};
    skiff_context_t *ctx = NULL;
    st = skiff_context_new(model, &co, &ctx);
    if (st) {
        snprintf(reason, cap, "context: %s: %s", skiff_code_name(skiff_status_code(st)),
                 skiff_status_message(st));
        skiff_status_free(st);
        skiff_model_free(model);
        return R_FAIL;
    }
    result_kind r = R_PASS;
    int n_sets = 0;
    for (int i = 0; r == R_PASS; i++) {
        char ds[PATH_CAP];
        fmt_buf(ds, sizeof ds, "%s/test_data_set_%d", dir, i);
        if (!is_dir(ds))
            break;
        n_sets++;
        char why[REASON_CAP];
        why[0] = '\0';
        r = run_data_set(o, model, ctx, graph_random_kind(model, c->op), ds, why, sizeof why);
        if (r != R_PASS) {
            if (i > 0)
                snprintf(reason, cap, "data set %d: %s", i, why);
            else
                snprintf(reason, cap, "%s", why);
        }
    }
    if (n_sets == 0) {
        snprintf(reason, cap, "no test_data_set_N directory");
        r = R_FAIL;
    }
    skiff_context_free(ctx);
    skiff_model_free(model);
    return r;
}

/* Child side: run, report "<kind char><reason>" in one write, exit. */
static void child_main(const options *o, const case_t *c, int fd)
{
    char msg[1 + REASON_CAP];
    char reason[REASON_CAP];
    reason[0] = '\0';
    result_kind r = run_case(o, c, reason, sizeof reason);
    one_line(reason);
    msg[0] = r == R_PASS ? 'P' : r == R_SKIP ? 'S' : 'F';
    size_t len = strlen(reason);
    if (len > sizeof msg - 1)
        len = sizeof msg - 1;
    memcpy(msg + 1, reason, len);
    ssize_t w = write(fd, msg, len + 1);
    (void)w;
    _exit(0);
}

/* ------------------------------------------------------ the parent's loop */

typedef struct slot {
    pid_t pid;
    int fd;
    int idx;
    uint64_t start_ns;
    char buf[1 + REASON_CAP + 1];
    size_t len;
} slot;

static const char *signal_name(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGABRT: return "SIGABRT";
    case SIGFPE: return "SIGFPE";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGKILL: return "SIGKILL";
    default: return "signal";
    }
}

static void finish_slot(const options *o, slot *s, case_t *c, bool timed_out)
{
    int status = 0;
    if (timed_out)
        kill(s->pid, SIGKILL);
    while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
    }
    close(s->fd);
    c->ms = (double)(skiff__now_ns() - s->start_ns) / 1e6;
    if (timed_out) {
        c->result = R_FAIL;
        snprintf(c->reason, sizeof c->reason, "timeout after %.0f s", o->timeout_s);
    } else if (s->len > 0) {
        s->buf[s->len] = '\0';
        c->result = s->buf[0] == 'P' ? R_PASS : s->buf[0] == 'S' ? R_SKIP : R_FAIL;
        snprintf(c->reason, sizeof c->reason, "%s", s->buf + 1);
    } else if (WIFSIGNALED(status)) {
        c->result = R_FAIL;
        snprintf(c->reason, sizeof c->reason, "crashed: %s (%d)", signal_name(WTERMSIG(status)),
                 WTERMSIG(status));
    } else {
        c->result = R_FAIL;
        snprintf(c->reason, sizeof c->reason, "child exited with status %d without a result",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (c->result == R_FAIL && c->expected_fail)
        c->result = R_XFAIL;
    if (o->verbose) {
        static const char *names[] = {"?", "PASS", "FAIL", "SKIP", "XFAIL"};
        printf("%-5s %s (%.0f ms)%s%s\n", names[c->result], c->name, c->ms,
               c->reason[0] ? ": " : "", c->reason);
        fflush(stdout);
    }
    s->pid = 0;
}

static bool start_slot(const options *o, slot *s, case_t *cases, int idx)
{
    int p[2];
    if (pipe(p) != 0)
        return false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return false;
    }
    if (pid == 0) {
        close(p[0]);
        child_main(o, &cases[idx], p[1]);
    }
    close(p[1]);
    s->pid = pid;
    s->fd = p[0];
    s->idx = idx;
    s->len = 0;
    s->start_ns = skiff__now_ns();
    return true;
}

static void run_all(const options *o, case_t *cases, int n)
{
    slot *slots = skiff__calloc((size_t)o->jobs, sizeof *slots);
    struct pollfd *pfd = skiff__calloc((size_t)o->jobs, sizeof *pfd);
    int *pmap = skiff__calloc((size_t)o->jobs, sizeof *pmap);
    if (!slots || !pfd || !pmap)
        die("out of memory");
    int next = 0, active = 0;
    uint64_t timeout_ns = (uint64_t)(o->timeout_s * 1e9);
    while (next < n || active > 0) {
        for (int j = 0; j < o->jobs && next < n; j++) {
            if (slots[j].pid)
                continue;
            if (!start_slot(o, &slots[j], cases, next)) {
                cases[next].result = cases[next].expected_fail ? R_XFAIL : R_FAIL;
                snprintf(cases[next].reason, sizeof cases[next].reason, "fork/pipe failed: %s",
                         strerror(errno));
            } else {
                active++;
            }
            next++;
        }
        if (active == 0)
            continue;
        int np = 0;
        uint64_t now = skiff__now_ns(), wait_ns = timeout_ns;
        for (int j = 0; j < o->jobs; j++) {
            if (!slots[j].pid)
                continue;
            uint64_t deadline = slots[j].start_ns + timeout_ns;
            uint64_t left = deadline > now ? deadline - now : 0;
            if (left < wait_ns)
                wait_ns = left;
            pfd[np].fd = slots[j].fd;
            pfd[np].events = POLLIN;
            pfd[np].revents = 0;
            pmap[np++] = j;
        }
        int ms = (int)(wait_ns / 1000000) + 1;
        int pr = poll(pfd, (nfds_t)np, ms);
        if (pr < 0 && errno != EINTR)
            die("poll failed");
        now = skiff__now_ns();
        for (int q = 0; q < np; q++) {
            slot *s = &slots[pmap[q]];
            case_t *c = &cases[s->idx];
            if (pfd[q].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(s->fd, s->buf + s->len, sizeof s->buf - 1 - s->len);
                if (r > 0) {
                    s->len += (size_t)r;
                    if (s->len < sizeof s->buf - 1)
                        continue; /* wait for EOF */
                }
                if (r < 0 && errno == EINTR)
                    continue;
                finish_slot(o, s, c, false);
                active--;
            } else if (now - s->start_ns >= timeout_ns) {
                finish_slot(o, s, c, true);
                active--;
            }
        }
    }
    skiff__free(slots);
    skiff__free(pfd);
    skiff__free(pmap);
}

/* ---------------------------------------------------------------- reports */

typedef struct op_row {
    const char *op;
    int cases, passed, failed, skipped;
} op_row;

static int cmp_row(const void *a, const void *b)
{
    return strcmp(((const op_row *)a)->op, ((const op_row *)b)->op);
}

#define OPS_BEGIN "<!-- ops-table:begin -->"
#define OPS_END "<!-- ops-table:end -->"

/* Writes the per-op table. When FILE already holds the OPS_BEGIN/OPS_END
 * markers only the text between them is replaced, so a hand-written document
 * (docs/operators.md) regenerates its table in place. */
static void write_ops_table(const char *path, const case_t *cases, int n)
{
    op_row *rows = skiff__calloc((size_t)n + 1, sizeof *rows);
    if (!rows)
        die("out of memory");
    int nr = 0;
    for (int i = 0; i < n; i++) {
        int r = 0;
        while (r < nr && strcmp(rows[r].op, cases[i].op) != 0)
            r++;
        if (r == nr)
            rows[nr++].op = cases[i].op;
        rows[r].cases++;
        if (cases[i].result == R_PASS)
            rows[r].passed++;
        else if (cases[i].result == R_SKIP)
            rows[r].skipped++;
        else
            rows[r].failed++;
    }
    qsort(rows, (size_t)nr, sizeof *rows, cmp_row);

    char *table = NULL;
    size_t table_len = 0;
    FILE *m = open_memstream(&table, &table_len);
    if (!m)
        die("out of memory");
    int tc = 0, tp = 0, tf = 0, ts = 0, n_ops = 0, n_ops_pass = 0;
    fprintf(m, "| op | cases | passed | failed | skipped |\n|---|---:|---:|---:|---:|\n");
    for (int r = 0; r < nr; r++) {
        fprintf(m, "| %s | %d | %d | %d | %d |\n", rows[r].op, rows[r].cases, rows[r].passed,
                rows[r].failed, rows[r].skipped);
        tc += rows[r].cases;
        tp += rows[r].passed;
        tf += rows[r].failed;
        ts += rows[r].skipped;
        /* Distinct operators: expanded-function rows and whole-model cases
         * do not name an op of their own. */
        if (!strstr(rows[r].op, "(expanded)") && strcmp(rows[r].op, "model") != 0) {
            n_ops++;
            n_ops_pass += rows[r].passed == rows[r].cases;
        }
    }
    fprintf(m, "| **total** | %d | %d | %d | %d |\n", tc, tp, tf, ts);
    fprintf(m, "\n%d operators; every case passes for %d of them.\n", n_ops, n_ops_pass);
    fclose(m);

    void *old = NULL;
    size_t old_len = 0;
    const char *pre = "", *post = "";
    int pre_len = 0;
    skiff_status_t *st = skiff__read_file(path, &old, &old_len);
    if (st) {
        skiff_status_free(st);
        old = NULL;
    } else {
        /* skiff__read_file's buffer is not NUL-terminated; make a copy that is. */
        char *text = skiff__malloc(old_len + 1);
        if (!text)
            die("out of memory");
        memcpy(text, old, old_len);
        text[old_len] = '\0';
        skiff__free(old);
        old = text;
        char *b = strstr(text, OPS_BEGIN);
        char *e = b ? strstr(b, OPS_END) : NULL;
        if (b && e) {
            pre = text;
            pre_len = (int)(b - text);
            post = e + strlen(OPS_END);
        }
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "conformance: cannot write '%s': %s\n", path, strerror(errno));
    } else {
        if (pre_len || *post)
            fprintf(f, "%.*s" OPS_BEGIN "\n%s" OPS_END "%s", pre_len, pre, table, post);
        else
            fputs(table, f);
        fclose(f);
    }
    free(table); /* open_memstream's buffer comes from libc malloc */
    skiff__free(old);
    skiff__free(rows);
}

static void write_expected(const char *path, const case_t *cases, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "conformance: cannot write '%s': %s\n", path, strerror(errno));
        return;
    }
    fprintf(f, "# ONNX conformance cases known to fail (tests/conformance/runner.c --expected).\n"
               "# One case name per line; regenerate with --update-expected FILE.\n");
    for (int i = 0; i < n; i++)
        if (cases[i].result == R_FAIL || cases[i].result == R_XFAIL)
            fprintf(f, "%s\n", cases[i].name);
    fclose(f);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: conformance [options]\n"
            "  --data DIR            case directories (default %s)\n"
            "  --filter SUBSTR       only cases whose name contains SUBSTR (repeatable: any)\n"
            "  --verbose             one line per case (with engine warnings)\n"
            "  --engine-log          the engine's own log lines too (pass statistics...)\n"
            "  --ops-table FILE      write the per-op markdown table (between the\n"
            "                        <!-- ops-table:begin/end --> markers if FILE has them)\n"
            "  --list-failures       print each failed case with its reason\n"
            "  --expected FILE       cases listed there count as xfail when they fail\n"
            "  --update-expected FILE  write the names of all failing cases to FILE\n"
            "  --jobs N              cases run at once (default 1)\n"
            "  --threads N           engine intra-op threads per case (default 1)\n"
            "  --timeout SEC         per-case deadline (default 10)\n"
            "  --no-optimize         load models without graph passes\n",
            SKIFF_CONFORMANCE_DATA);
}

static int parse_int_arg(const char *flag, const char *v, int lo, int hi)
{
    int64_t x;
    if (!v || !skiff__parse_i64(v, &x) || x < lo || x > hi) {
        fprintf(stderr, "conformance: %s expects an integer in [%d, %d]\n", flag, lo, hi);
        exit(2);
    }
    return (int)x;
}

int main(int argc, char **argv)
{
    options o = {.data = SKIFF_CONFORMANCE_DATA,
                 .jobs = 1,
                 .threads = 1,
                 .timeout_s = 10.0,
                 .optimize = true};
    o.filters = skiff__calloc((size_t)argc + 1, sizeof *o.filters);
    if (!o.filters)
        die("out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--data") == 0 && v) {
            o.data = v;
            i++;
        } else if (strcmp(a, "--filter") == 0 && v) {
            o.filters[o.n_filters++] = v;
            i++;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0)
            o.verbose = true;
        else if (strcmp(a, "--engine-log") == 0)
            o.engine_log = true;
        else if (strcmp(a, "--ops-table") == 0 && v) {
            o.ops_table = v;
            i++;
        } else if (strcmp(a, "--list-failures") == 0)
            o.list_failures = true;
        else if (strcmp(a, "--expected") == 0 && v) {
            o.expected = v;
            i++;
        } else if (strcmp(a, "--update-expected") == 0 && v) {
            o.update_expected = v;
            i++;
        } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "-j") == 0) {
            o.jobs = parse_int_arg(a, v, 1, 256);
            i++;
        } else if (strcmp(a, "--threads") == 0) {
            o.threads = parse_int_arg(a, v, 0, 1024);
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            double t = 0.0;
            if (!v || !skiff__parse_double(v, &t) || !(t > 0))
                die("--timeout expects seconds");
            o.timeout_s = t;
            i++;
        } else if (strcmp(a, "--no-optimize") == 0)
            o.optimize = false;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "conformance: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    /* The runner reports each failure itself; engine logs are opt-in noise. */
    skiff_log_set_level(o.engine_log ? SKIFF_LOG_DEBUG
                        : o.verbose  ? SKIFF_LOG_WARN
                                     : SKIFF_LOG_OFF);

    int n = 0;
    case_t *cases = collect_cases(&o, &n);
    if (o.expected)
        read_expected(o.expected, cases, n);
    uint64_t t0 = skiff__now_ns();
    run_all(&o, cases, n);
    double secs = (double)(skiff__now_ns() - t0) / 1e9;

    int passed = 0, failed = 0, skipped = 0, xfail = 0, xpass = 0;
    for (int i = 0; i < n; i++) {
        switch (cases[i].result) {
        case R_PASS:
            passed++;
            xpass += cases[i].expected_fail;
            break;
        case R_SKIP: skipped++; break;
        case R_XFAIL: xfail++; break;
        default: failed++; break;
        }
    }
    if (o.list_failures) {
        for (int i = 0; i < n; i++)
            if (cases[i].result == R_FAIL || cases[i].result == R_XFAIL)
                printf("%s %s: %s\n", cases[i].result == R_XFAIL ? "xfail" : "FAILED",
                       cases[i].name, cases[i].reason);
    } else if (!o.verbose) {
        for (int i = 0; i < n; i++)
            if (cases[i].result == R_FAIL)
                printf("FAILED %s: %s\n", cases[i].name, cases[i].reason);
    }
    for (int i = 0; i < n; i++)
        if (cases[i].result == R_PASS && cases[i].expected_fail)
            printf("note: %s passes now; remove it from %s\n", cases[i].name, o.expected);
    if (o.ops_table)
        write_ops_table(o.ops_table, cases, n);
    if (o.update_expected)
        write_expected(o.update_expected, cases, n);
    if (n == 0)
        fprintf(stderr, "conformance: no cases matched in '%s'\n", o.data);
    if (o.expected)
        printf("%d expected failures (xfail), %d listed cases now pass; %d cases in %.1f s\n",
               xfail, xpass, n, secs);
    else
        printf("%d cases in %.1f s\n", n, secs);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);

    for (int i = 0; i < n; i++) {
        skiff__free(cases[i].name);
        skiff__free(cases[i].op);
    }
    skiff__free(cases);
    skiff__free(o.filters);
    return failed ? 1 : (n == 0 ? 1 : 0);
}
