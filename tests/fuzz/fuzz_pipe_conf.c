/* fuzz_pipe_conf.c - a pipeline's config.yml (pipeline/pipe_conf.c): libyaml's
 * event parser and document loader, then skiff's walk of Paddle's keys and
 * its own (ops, input_ops, steps and their params).
 *
 * Input: the file's bytes. Seeds: corpus/fuzz_pipe_conf/.
 *
 * Beyond "no crash, no leak": every refusal is INVALID_ARG (or an injected
 * allocation failure) and names the file; an accepted file keeps the
 * documented bounds, and its graph names only ops it has, none itself. */
#include <string.h>

#include "core/core.h"
#include "fuzz.h"
#include "pipeline/pipe_conf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    skiff_log_set_level(SKIFF_LOG_OFF);
    return 0;
}

static void check_steps(const skiff__pipe_step *s, int n)
{
    FUZZ_CHECK(n >= 0 && n <= SKIFF__PIPE_MAX_STEPS);
    for (int i = 0; i < n; i++) {
        FUZZ_CHECK(s[i].name && s[i].name[0] && s[i].line >= 1);
        FUZZ_CHECK(s[i].n_params <= SKIFF__PIPE_MAX_PARAMS);
        for (int k = 0; k < s[i].n_params; k++)
            FUZZ_CHECK(s[i].params[k].key && s[i].params[k].value);
        for (int k = 0; k < s[i].n_in; k++)
            FUZZ_CHECK(s[i].in[k] && s[i].in[k][0]);
        for (int k = 0; k < s[i].n_out; k++)
            FUZZ_CHECK(s[i].out[k] && s[i].out[k][0]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    skiff__pipe_conf *c = NULL;
    skiff_status_t *st = skiff__pipe_conf_parse((const char *)data, size, "pipe/config.yml", &c);
    if (st) {
        FUZZ_CHECK(c == NULL);
        FUZZ_CHECK(skiff_status_code(st) == SKIFF_CODE_INVALID_ARG ||
                   skiff_status_code(st) == SKIFF_CODE_RESOURCE_EXHAUSTED);
        FUZZ_CHECK(strncmp(skiff_status_message(st), "pipe/config.yml", 15) == 0);
        skiff_status_free(st);
        return 0;
    }
    FUZZ_CHECK(c && c->name && c->name[0] && !strchr(c->name, '/'));
    FUZZ_CHECK(c->n_ops >= 1 && c->n_ops <= SKIFF__PIPE_MAX_OPS);
    FUZZ_CHECK(c->rpc_port >= 0 && c->rpc_port <= 65535);
    FUZZ_CHECK(c->http_port >= 0 && c->http_port <= 65535);
    FUZZ_CHECK(c->worker_num >= 1 && c->dag_retry >= 1 && c->channel_size >= 0);
    FUZZ_CHECK(c->tracer_interval_s == -1 || c->tracer_interval_s > 0);
    FUZZ_CHECK(c->n_notes <= SKIFF__PIPE_MAX_NOTES + 1);
    for (int i = 0; i < c->n_notes; i++)
        FUZZ_CHECK(strncmp(c->notes[i], "pipe/config.yml", 15) == 0);
    for (int i = 0; i < c->n_ops; i++) {
        const skiff__pipe_op_conf *op = &c->ops[i];
        FUZZ_CHECK(op->name && op->name[0] && !strchr(op->name, '/'));
        FUZZ_CHECK(op->concurrency >= 1 && op->concurrency <= 1024);
        FUZZ_CHECK(op->retry >= 1 && op->batch_size >= 1 && op->thread_num >= 0);
        FUZZ_CHECK(op->timeout_ms == -1 || op->timeout_ms > 0);
        FUZZ_CHECK(op->auto_batching_timeout == -1 || op->auto_batching_timeout > 0);
        FUZZ_CHECK(op->precision && op->client_type >= SKIFF__PIPE_LOCAL &&
                   op->client_type <= SKIFF__PIPE_HTTP);
        for (int e = 0; e < op->n_input_ops; e++) {
            FUZZ_CHECK(strcmp(op->input_ops[e], op->name) != 0);
            int found = 0;
            for (int j = 0; j < c->n_ops; j++)
                found += !strcmp(c->ops[j].name, op->input_ops[e]);
            FUZZ_CHECK(found == 1);
        }
        for (int j = 0; j < i; j++)
            FUZZ_CHECK(strcmp(c->ops[j].name, op->name) != 0);
        if (op->model_config)
            FUZZ_CHECK(!strncmp(op->model_config, "pipe/", 5) || op->model_config[0] == '/');
        check_steps(op->pre, op->n_pre);
        check_steps(op->post, op->n_post);
        for (int k = 0; k < op->n_plugin_params; k++)
            FUZZ_CHECK(op->plugin_params[k].key && op->plugin_params[k].value);
    }
    skiff__pipe_conf_free(c);
    return 0;
}
