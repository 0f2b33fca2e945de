/* servable.c - a model directory behind the servable table: each entry is the
 * model layer's own function (model.c, sched.c). */
#include "model/servable.h"
#include "core/core.h"

static skiff__model *M(const skiff__servable *sv) { return sv->impl; }

static const skiff__model_desc *m_describe(const skiff__servable *sv)
{
    return skiff__model_describe(M(sv));
}

static skiff_status_t *m_job_new(const skiff__servable *sv, skiff__job **out)
{
    return skiff__job_new(M(sv), out);
}

static skiff_status_t *m_check(const skiff__servable *sv, skiff__job *job)
{
    return skiff__model_check_job(M(sv), job);
}

static bool m_run_inline(skiff__servable *sv, skiff__job *job, skiff__job_done_cb cb, void *user)
{
    return skiff__model_run_inline(M(sv), job, cb, user);
}

static skiff_status_t *m_submit(skiff__servable *sv, skiff__job *job)
{
    return skiff__model_submit(M(sv), job);
}

static skiff__model_stats *m_stats(skiff__servable *sv) { return skiff__model_get_stats(M(sv)); }

static void m_count(skiff__servable *sv, skiff_code_t code, uint64_t e2e_ns)
{
    skiff__model_count_request(M(sv), code, e2e_ns);
}

static int m_queue_depth(skiff__servable *sv) { return skiff__model_queue_depth(M(sv)); }

static void m_close(skiff__servable *sv)
{
    if (!sv)
        return;
    skiff__model_close(M(sv));
    skiff__free(sv);
}

static const skiff__servable_ops model_ops = {
    .kind = "model",
    .describe = m_describe,
    .job_new = m_job_new,
    .check = m_check,
    .run_inline = m_run_inline,
    .submit = m_submit,
    .stats = m_stats,
    .count_request = m_count,
    .queue_depth = m_queue_depth,
    .close = m_close,
};

skiff_status_t *skiff__servable_open_model(const char *path, const skiff__model_options *opts,
                                           skiff__servable **out)
{
    *out = NULL;
    skiff__servable *sv = skiff__calloc(1, sizeof(*sv));
    if (!sv)
        return skiff_status_new(SKIFF_CODE_RESOURCE_EXHAUSTED, "out of memory");
    skiff__model *m = NULL;
    skiff_status_t *st = skiff__model_open(path, opts, &m);
    if (st) {
        skiff__free(sv);
        return st;
    }
    sv->ops = &model_ops;
    sv->impl = m;
    *out = sv;
    return NULL;
}
