/* Unit tests for a pipeline's config.yml (src/pipeline/pipe_conf.c): Paddle's
 * UCI example, an OCR-style graph of three ops with steps, every refusal with
 * its line and key path, the notes, loading from a file, and every
 * allocation failure walked in turn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* needs the headers above */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "pipeline/pipe_conf.h"

static skiff__pipe_conf *parse_ok(const char *text, const char *path)
{
    skiff__pipe_conf *c = NULL;
    skiff_status_t *st = skiff__pipe_conf_parse(text, strlen(text), path, &c);
    if (st)
        fail_msg("unexpected error: %s", skiff_status_message(st));
    assert_non_null(c);
    return c;
}

/* The message of a refused text (INVALID_ARG), into buf. */
static const char *parse_err(const char *text, size_t len, char *buf, size_t size)
{
    skiff__pipe_conf *c = NULL;
    skiff_status_t *st = skiff__pipe_conf_parse(text, len, "t.yml", &c);
    if (!st)
        fail_msg("accepted: %s", text);
    assert_null(c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    snprintf(buf, size, "%s", skiff_status_message(st));
    skiff_status_free(st);
    return buf;
}

static bool has_note(const skiff__pipe_conf *c, const char *want)
{
    for (int i = 0; i < c->n_notes; i++)
        if (!strcmp(c->notes[i], want))
            return true;
    for (int i = 0; i < c->n_notes; i++)
        print_message("note: %s\n", c->notes[i]);
    return false;
}

/* Paddle Serving's examples/Pipeline/simple_web_service/config.yml, as the
 * seed's uci_pipeline ships it. */
static const char uci_yml[] = "#worker_num: most concurrent requests\n"
                              "worker_num: 1\n"
                              "#rpc_port and http_port may not both be empty\n"
                              "rpc_port: 9998\n"
                              "http_port: 18082\n"
                              "dag:\n"
                              "    #op resource type: True = threads, False = processes\n"
                              "    is_thread_op: False\n"
                              "op:\n"
                              "    uci:\n"
                              "        concurrency: 2\n"
                              "        local_service_conf:\n"
                              "            model_config: uci_housing_model\n"
                              "            devices: \"\" # \"0,1\"\n"
                              "            client_type: local_predictor\n"
                              "            fetch_list: [\"price\"]\n";

static void test_uci(void **state)
{
    skiff__pipe_conf *c = parse_ok(uci_yml, "/srv/uci/config.yml");
    assert_string_equal(c->path, "/srv/uci/config.yml");
    assert_string_equal(c->dir, "/srv/uci");
    assert_string_equal(c->name, "uci");
    assert_int_equal(c->worker_num, 1);
    assert_int_equal(c->rpc_port, 9998);
    assert_int_equal(c->http_port, 18082);
    assert_false(c->is_thread_op);
    assert_int_equal(c->dag_retry, 1);
    assert_int_equal(c->dag_client_type, SKIFF__PIPE_BRPC);
    assert_false(c->use_profile);
    assert_int_equal(c->channel_size, 0);
    assert_int_equal(c->tracer_interval_s, -1);
    assert_int_equal(c->n_ops, 1);
    const skiff__pipe_op_conf *op = &c->ops[0];
    assert_string_equal(op->name, "uci");
    assert_int_equal(op->line, 10);
    assert_int_equal(op->concurrency, 2);
    assert_int_equal(op->timeout_ms, -1);
    assert_int_equal(op->retry, 1);
    assert_int_equal(op->batch_size, 1);
    assert_int_equal(op->auto_batching_timeout, -1);
    assert_string_equal(op->model_config, "/srv/uci/uci_housing_model");
    assert_int_equal(op->client_type, SKIFF__PIPE_LOCAL);
    assert_string_equal(op->devices, "");
    assert_int_equal(op->n_fetch_list, 1);
    assert_string_equal(op->fetch_list[0], "price");
    assert_string_equal(op->precision, "fp32");
    assert_true(op->mem_optim);
    assert_false(op->ir_optim);
    assert_int_equal(op->n_input_ops, 0);
    assert_null(op->py_class);
    assert_null(op->plugin);
    assert_int_equal(c->n_notes, 1);
    assert_true(has_note(c, "/srv/uci/config.yml:8: dag.is_thread_op: false: no effect: skiff "
                            "runs every op on threads of one process"));
    skiff__pipe_conf_free(c);
    skiff__pipe_conf_free(NULL);
}

static const char ocr_yml[] =
    "name: ocr\n"                                                              /* 1 */
    "http_port: 9999\n"                                                        /* 2 */
    "build_dag_each_worker: true\n"                                            /* 3 */
    "dag:\n"                                                                   /* 4 */
    "  retry: 0\n"                                                             /* 5 */
    "  client_type: GRPC\n"                                                    /* 6 */
    "  channel_size: 8\n"                                                      /* 7 */
    "  tracer:\n"                                                              /* 8 */
    "    interval_s: 0\n"                                                      /* 9 */
    "op:\n"                                                                    /* 10 */
    "  det:\n"                                                                 /* 11 */
    "    concurrency: 2\n"                                                     /* 12 */
    "    batch_size: 4\n"                                                      /* 13 */
    "    auto_batching_timeout: 30\n"                                          /* 14 */
    "    preprocess:\n"                                                        /* 15 */
    "      - DecodeImage: {in: image, out: img}\n"                             /* 16 */
    "      - DetResizeForTest:\n"                                              /* 17 */
    "          limit_side_len: 960\n"                                          /* 18 */
    "          in: img\n"                                                      /* 19 */
    "      - NormalizeImage: {mean: [0.485, 0.456,0.406], scale: '1./255.'}\n" /* 20 */
    "      - ToCHWImage\n"                                                     /* 21 */
    "      - Nested: {shape: [[1, 2], [3]], empty: [], none: }\n"              /* 22 */
    "    postprocess:\n"                                                       /* 23 */
    "      - DBPostProcess: {thresh: 0.3, out: [boxes, scores]}\n"             /* 24 */
    "      - Sort:\n"                                                          /* 25 */
    "    local_service_conf:\n"                                                /* 26 */
    "      model_config: ocr_det_model\n"                                      /* 27 */
    "      precision: FP16\n"                                                  /* 28 */
    "      use_mkldnn: true\n"                                                 /* 29 */
    "      use_gpu: false\n"                                                   /* 30 */
    "      thread_num: 4\n"                                                    /* 31 */
    "      ir_optim: true\n"                                                   /* 32 */
    "  cls:\n"                                                                 /* 33 */
    "    input_ops: det\n"                                                     /* 34 */
    "    plugin: plugins/libcls.so\n"                                          /* 35 */
    "    plugin_params: {threshold: 0.9, labels: [0, 180]}\n"                  /* 36 */
    "    server_endpoints: ['127.0.0.1:9292', '127.0.0.1:9293']\n"             /* 37 */
    "    client_config: cls_client\n"                                          /* 38 */
    "    fetch_list: [angle]\n"                                                /* 39 */
    "    local_service_conf:\n"                                                /* 40 */
    "      client_type: brpc\n"                                                /* 41 */
    "      fetch_list: [ignored]\n"                                            /* 42 */
    "      concurrency: 3\n"                                                   /* 43 */
    "  rec:\n"                                                                 /* 44 */
    "    input_ops: [det, cls]\n"                                              /* 45 */
    "    class: ocr_ops.RecOp\n"                                               /* 46 */
    "    retry: 0\n"                                                           /* 47 */
    "    timeout: 0\n"                                                         /* 48 */
    "    my_flag: 1\n"                                                         /* 49 */
    "    local_service_conf:\n"                                                /* 50 */
    "      model_config: /models/rec\n"                                        /* 51 */
    "      devices: '0'\n"                                                     /* 52 */
    "      unknown_thing: 1\n"                                                 /* 53 */
    "extra_key: {a: 1}\n";                                                     /* 54 */

static void test_ocr(void **state)
{
    skiff__pipe_conf *c = parse_ok(ocr_yml, "conf/ocr.yml");
    assert_string_equal(c->dir, "conf");
    assert_string_equal(c->name, "ocr");
    assert_int_equal(c->rpc_port, 0);
    assert_int_equal(c->http_port, 9999);
    assert_true(c->build_dag_each_worker);
    assert_int_equal(c->dag_retry, 1);
    assert_int_equal(c->dag_client_type, SKIFF__PIPE_GRPC);
    assert_int_equal(c->channel_size, 8);
    assert_int_equal(c->tracer_interval_s, -1);
    assert_int_equal(c->n_ops, 3);

    const skiff__pipe_op_conf *det = &c->ops[0];
    assert_string_equal(det->name, "det");
    assert_int_equal(det->line, 11);
    assert_int_equal(det->concurrency, 2);
    assert_int_equal(det->batch_size, 4);
    assert_int_equal(det->auto_batching_timeout, 30);
    assert_string_equal(det->model_config, "conf/ocr_det_model");
    assert_string_equal(det->precision, "fp16");
    assert_int_equal(det->thread_num, 4);
    assert_true(det->ir_optim);
    assert_int_equal(det->n_pre, 5);
    const skiff__pipe_step *s = det->pre;
    assert_string_equal(s[0].name, "DecodeImage");
    assert_int_equal(s[0].line, 16);
    assert_int_equal(s[0].n_in, 1);
    assert_string_equal(s[0].in[0], "image");
    assert_int_equal(s[0].n_out, 1);
    assert_string_equal(s[0].out[0], "img");
    assert_int_equal(s[0].n_params, 0);
    assert_string_equal(s[1].name, "DetResizeForTest");
    assert_int_equal(s[1].line, 17);
    assert_int_equal(s[1].n_in, 1);
    assert_string_equal(s[1].in[0], "img");
    assert_int_equal(s[1].n_out, 0);
    assert_null(s[1].out);
    assert_int_equal(s[1].n_params, 1);
    assert_string_equal(s[1].params[0].key, "limit_side_len");
    assert_string_equal(s[1].params[0].value, "960");
    assert_int_equal(s[2].n_params, 2);
    assert_string_equal(s[2].params[0].key, "mean");
    assert_string_equal(s[2].params[0].value, "[0.485, 0.456, 0.406]");
    assert_string_equal(s[2].params[1].key, "scale");
    assert_string_equal(s[2].params[1].value, "1./255.");
    assert_string_equal(s[3].name, "ToCHWImage");
    assert_int_equal(s[3].n_params + s[3].n_in + s[3].n_out, 0);
    assert_int_equal(s[4].n_params, 3);
    assert_string_equal(s[4].params[0].value, "[[1, 2], [3]]");
    assert_string_equal(s[4].params[1].value, "[]");
    assert_string_equal(s[4].params[2].key, "none");
    assert_string_equal(s[4].params[2].value, "");
    assert_int_equal(det->n_post, 2);
    assert_string_equal(det->post[0].name, "DBPostProcess");
    assert_int_equal(det->post[0].n_out, 2);
    assert_string_equal(det->post[0].out[0], "boxes");
    assert_string_equal(det->post[0].out[1], "scores");
    assert_int_equal(det->post[0].n_params, 1);
    assert_string_equal(det->post[0].params[0].value, "0.3");
    assert_string_equal(det->post[1].name, "Sort");
    assert_int_equal(det->post[1].n_params, 0);

    const skiff__pipe_op_conf *cls = &c->ops[1];
    assert_int_equal(cls->n_input_ops, 1);
    assert_string_equal(cls->input_ops[0], "det");
    assert_string_equal(cls->plugin, "conf/plugins/libcls.so");
    assert_int_equal(cls->n_plugin_params, 2);
    assert_string_equal(cls->plugin_params[0].key, "threshold");
    assert_string_equal(cls->plugin_params[0].value, "0.9");
    assert_string_equal(cls->plugin_params[1].value, "[0, 180]");
    assert_int_equal(cls->n_server_endpoints, 2);
    assert_string_equal(cls->server_endpoints[1], "127.0.0.1:9293");
    assert_string_equal(cls->client_config, "conf/cls_client");
    assert_int_equal(cls->client_type, SKIFF__PIPE_BRPC);
    assert_int_equal(cls->n_fetch_list, 1);
    assert_string_equal(cls->fetch_list[0], "angle");
    assert_int_equal(cls->concurrency, 3);
    assert_null(cls->model_config);

    const skiff__pipe_op_conf *rec = &c->ops[2];
    assert_int_equal(rec->n_input_ops, 2);
    assert_string_equal(rec->input_ops[1], "cls");
    assert_string_equal(rec->py_class, "ocr_ops.RecOp");
    assert_int_equal(rec->retry, 1);
    assert_int_equal(rec->timeout_ms, -1);
    assert_string_equal(rec->model_config, "/models/rec");
    assert_string_equal(rec->devices, "0");

    static const char *const notes[] = {
        "conf/ocr.yml:3: build_dag_each_worker: true: no effect: skiff builds one DAG that "
        "every worker shares",
        "conf/ocr.yml:5: dag.retry: 0 reads as 1 (one try, as Paddle makes it)",
        "conf/ocr.yml:28: op.det.local_service_conf.precision: fp16: no effect: no fp16 kernels "
        "on CPU; runs fp32 (bf16 is the reduced precision skiff runs)",
        "conf/ocr.yml:29: op.det.local_service_conf.use_mkldnn: no effect: skiff always runs "
        "its CPU kernels on oneDNN",
        "conf/ocr.yml:32: op.det.local_service_conf.ir_optim: no effect: skiff always runs its "
        "graph passes when it loads a model",
        "conf/ocr.yml:42: op.cls.local_service_conf.fetch_list: op.cls.fetch_list is given "
        "too; that one is used",
        "conf/ocr.yml:47: op.rec.retry: 0 reads as 1 (one try, as Paddle makes it)",
        "conf/ocr.yml:49: op.rec.my_flag: not a key skiff reads (ignored)",
        "conf/ocr.yml:52: op.rec.local_service_conf.devices: '0': skiff runs on the CPU here "
        "(no effect)",
        "conf/ocr.yml:53: op.rec.local_service_conf.unknown_thing: not a key skiff reads "
        "(ignored)",
        "conf/ocr.yml:54: extra_key: not a key skiff reads (ignored)",
    };
    for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
        assert_true(has_note(c, notes[i]));
    /* use_gpu: false says nothing */
    assert_int_equal(c->n_notes, (int)(sizeof(notes) / sizeof(notes[0])));
    skiff__pipe_conf_free(c);
}

/* Defaults: `name` is "default_service" with two ops; no ports is fine; an
 * op given as null has every default; sections given as null read as empty. */
static void test_defaults(void **state)
{
    skiff__pipe_conf *c = parse_ok("dag:\nop:\n  a:\n  b:\n    input_ops: a\n"
                                   "    local_service_conf:\n    preprocess:\n",
                                   NULL);
    assert_string_equal(c->path, "config.yml");
    assert_string_equal(c->dir, ".");
    assert_string_equal(c->name, "default_service");
    assert_int_equal(c->rpc_port + c->http_port, 0);
    assert_true(c->is_thread_op);
    assert_int_equal(c->n_ops, 2);
    assert_int_equal(c->ops[0].concurrency, 1);
    assert_int_equal(c->ops[0].client_type, SKIFF__PIPE_LOCAL);
    assert_int_equal(c->ops[1].n_pre, 0);
    assert_int_equal(c->n_notes, 0);
    skiff__pipe_conf_free(c);
    /* a relative path with no folder stays as written */
    c = parse_ok("op:\n  m:\n    local_service_conf: {model_config: dir/model}\n", "c.yml");
    assert_string_equal(c->ops[0].model_config, "dir/model");
    assert_string_equal(c->name, "m");
    skiff__pipe_conf_free(c);
    c = parse_ok("op:\n  m:\n    local_service_conf: {model_config: model}\n", "/c.yml");
    assert_string_equal(c->dir, "/");
    assert_string_equal(c->ops[0].model_config, "/model");
    skiff__pipe_conf_free(c);
}

typedef struct err_case {
    const char *yml;
    const char *want; /* the whole message */
} err_case;

static const err_case err_cases[] = {
    /* types and ranges */
    {"op:\n  a:\n    concurrency: x\n",
     "t.yml:3: op.a.concurrency: expected an integer 1..1024, got 'x'"},
    {"op:\n  a:\n    concurrency: 0\n",
     "t.yml:3: op.a.concurrency: expected an integer 1..1024, got '0'"},
    {"rpc_port: 70000\nop:\n  a:\n",
     "t.yml:1: rpc_port: expected an integer 0..65535, got '70000'"},
    {"http_port: [1]\nop:\n  a:\n", "t.yml:1: http_port: expected an integer 0..65535, got a list"},
    {"worker_num: 0\nop:\n  a:\n", "t.yml:1: worker_num: expected an integer 1..1024, got '0'"},
    {"op:\n  uci:\n    local_service_conf:\n      thread_num: -1\n",
     "t.yml:4: op.uci.local_service_conf.thread_num: expected an integer 0..1024, got '-1'"},
    {"op:\n  a:\n    timeout: -2\n", "t.yml:3: op.a.timeout: expected an integer >= -1, got '-2'"},
    {"op:\n  a:\n    retry: -1\n", "t.yml:3: op.a.retry: expected an integer 0..1000, got '-1'"},
    {"op:\n  a:\n    batch_size: 0\n",
     "t.yml:3: op.a.batch_size: expected an integer 1..1048576, got '0'"},
    {"dag:\n  is_thread_op: maybe\nop:\n  a:\n",
     "t.yml:2: dag.is_thread_op: expected true or false, got 'maybe'"},
    {"dag:\n  client_type: tcp\nop:\n  a:\n",
     "t.yml:2: dag.client_type: expected one of brpc|grpc|local_predictor|http, got 'tcp'"},
    {"dag:\n  tracer:\n    interval_s: soon\nop:\n  a:\n",
     "t.yml:3: dag.tracer.interval_s: expected an integer >= -1, got 'soon'"},
    {"op:\n  a:\n    local_service_conf:\n      precision: fp64\n",
     "t.yml:4: op.a.local_service_conf.precision: expected one of fp32|fp16|bf16|int8, got "
     "'fp64'"},
    {"op:\n  a:\n    local_service_conf:\n      client_type: 3\n",
     "t.yml:4: op.a.local_service_conf.client_type: expected one of "
     "local_predictor|brpc|grpc|http, got '3'"},
    {"op:\n  a:\n    local_service_conf:\n      model_config: [m]\n",
     "t.yml:4: op.a.local_service_conf.model_config: expected a path, got a list"},
    {"op:\n  a:\n    local_service_conf:\n      model_config: ''\n",
     "t.yml:4: op.a.local_service_conf.model_config: expected a path, got ''"},
    {"op:\n  a:\n    fetch_list: [x, {y: 1}]\n",
     "t.yml:3: op.a.fetch_list: item 1: expected a name, got a mapping"},
    {"op:\n  a:\n    server_endpoints: {h: 1}\n",
     "t.yml:3: op.a.server_endpoints: expected a name or a list of names, got a mapping"},
    {"op:\n  a:\n    class: RecOp\n",
     "t.yml:3: op.a.class: expected module.ClassName, got 'RecOp'"},
    {"op:\n  a:\n    plugin_params: [1]\n",
     "t.yml:3: op.a.plugin_params: expected a mapping of params, got a list"},
    {"op:\n  a:\n    plugin_params: {k: {x: 1}}\n",
     "t.yml:3: op.a.plugin_params.k: expected a value or a list of values, got a mapping"},
    {"name: a/b\nop:\n  a:\n", "t.yml:1: name: a service name cannot hold '/' (it is part of a "
                               "URL)"},
    {"name: ''\nop:\n  a:\n", "t.yml:1: name: the service needs a name, got ''"},
    {"op:\n  a:\n    name: \"x\\0y\"\n    concurrency: \"a\\0\"\n",
     "t.yml:4: op.a.concurrency: expected an integer 1..1024, got 'a'"},
    {"op:\n  a:\n    client_config: \"x\\0y\"\n",
     "t.yml:3: op.a.client_config: expected a path, got a string holding a NUL byte"},
    /* op names */
    {"op:\n  '':\n    concurrency: 1\n", "t.yml:2: op.: an op needs a name, got ''"},
    {"op:\n  a/b:\n    concurrency: 1\n",
     "t.yml:2: op.a/b: an op name cannot hold '/' (it is part of a URL)"},
    {"op:\n  a:\n    concurrency: 1\n  b:\n  a:\n    concurrency: 2\n",
     "t.yml:5: op.a: a second op named 'a' (the first is on line 2)"},
    {"op:\n  [a]: 1\n", "t.yml:2: op: expected an op name, got a list"},
    {"op:\n  a:\n    concurrency: 1\n    concurrency: 2\n",
     "t.yml:4: op.a.concurrency: given twice (first on line 3)"},
    /* input_ops */
    {"op:\n  a:\n  b:\n    input_ops: [a, zz]\n", "t.yml:4: op.b.input_ops: no op named 'zz'"},
    {"op:\n  a:\n    input_ops: a\n", "t.yml:3: op.a.input_ops: an op cannot read its own output"},
    {"op:\n  a:\n  b:\n    input_ops: [a, a]\n", "t.yml:4: op.b.input_ops: 'a' is named twice"},
    {"op:\n  a:\n    input_ops: c\n  b:\n    input_ops: a\n  c:\n    input_ops: [b]\n",
     "t.yml:5: op.b.input_ops: the ops read each other in a cycle: a -> c -> b -> a"},
    {"op:\n  a:\n    input_ops: ''\n", "t.yml:3: op.a.input_ops: expected a name, got ''"},
    /* sections of the wrong kind */
    {"op:\n  a: 5\n", "t.yml:2: op.a: expected a mapping (the op's keys), got '5'"},
    {"op: [a]\n", "t.yml:1: op: expected a mapping of op names to op sections, got a list"},
    {"dag: [1]\nop:\n  a:\n", "t.yml:1: dag: expected a mapping, got a list"},
    {"dag:\n  tracer: 1\nop:\n  a:\n", "t.yml:2: dag.tracer: expected a mapping, got '1'"},
    {"op:\n  a:\n    local_service_conf: x\n",
     "t.yml:3: op.a.local_service_conf: expected a mapping, got 'x'"},
    {"- op\n", "t.yml:1: (top level): expected a mapping, got a list"},
    {"plain\n", "t.yml:1: (top level): expected a mapping, got 'plain'"},
    /* no ops */
    {"", "t.yml:1: no ops: config.yml needs op.NAME sections"},
    {"# only a comment\n", "t.yml:1: no ops: config.yml needs op.NAME sections"},
    {"~\n", "t.yml:1: no ops: config.yml needs op.NAME sections"},
    {"worker_num: 1\nrpc_port: 1\n", "t.yml:1: no ops: config.yml needs op.NAME sections"},
    {"worker_num: 1\nop:\n", "t.yml:2: op: no ops: config.yml needs op.NAME sections"},
    {"worker_num: 1\nop: {}\n", "t.yml:2: op: no ops: config.yml needs op.NAME sections"},
    /* steps */
    {"op:\n  a:\n    preprocess: Decode\n",
     "t.yml:3: op.a.preprocess: expected a list of steps, got 'Decode'"},
    {"op:\n  a:\n    preprocess:\n      - ''\n",
     "t.yml:4: op.a.preprocess[0]: a step needs a name, got ''"},
    {"op:\n  a:\n    preprocess:\n      - Decode\n      - ~\n",
     "t.yml:5: op.a.preprocess[1]: expected a step name, got null"},
    {"op:\n  a:\n    postprocess:\n      - '': {x: 1}\n",
     "t.yml:4: op.a.postprocess[0]: a step needs a name, got ''"},
    {"op:\n  a:\n    postprocess:\n      - Resize:\n        size: 3\n",
     "t.yml:4: op.a.postprocess[0]: a step is a mapping with one key, its name; got 2 keys (are "
     "its params indented under the name?)"},
    {"op:\n  a:\n    postprocess:\n      - {}\n",
     "t.yml:4: op.a.postprocess[0]: a step is a mapping with one key, its name; got 0 keys (are "
     "its params indented under the name?)"},
    {"op:\n  a:\n    postprocess:\n      - [x]\n",
     "t.yml:4: op.a.postprocess[0]: expected a step (`Name` or `Name: {params}`), got a list"},
    {"op:\n  a:\n    preprocess:\n      - Resize: 3\n",
     "t.yml:4: op.a.preprocess[0].Resize: expected the step's params as a mapping, got '3'"},
    {"op:\n  a:\n    preprocess:\n      - Resize: {in: {x: 1}}\n",
     "t.yml:4: op.a.preprocess[0].Resize.in: expected a name or a list of names, got a mapping"},
    {"op:\n  a:\n    preprocess:\n      - Resize: {out: [x, '']}\n",
     "t.yml:4: op.a.preprocess[0].Resize.out: item 1: expected a name, got ''"},
    {"op:\n  a:\n    preprocess:\n      - Resize: {size: {w: 1}}\n",
     "t.yml:4: op.a.preprocess[0].Resize.size: expected a value or a list of values, got a "
     "mapping"},
    {"op:\n  a:\n    preprocess:\n      - Resize:\n          w: 1\n          w: 2\n",
     "t.yml:6: op.a.preprocess[0].Resize.w: given twice (first on line 5)"},
    /* YAML itself */
    {"op:\n  a: [1\n", "t.yml:3:1: YAML: did not find expected ',' or ']' (while parsing a flow "
                       "sequence)"},
    {"op:\n\ta: 1\n", "t.yml:2:1: YAML: found character that cannot start any token (while "
                      "scanning for the next token)"},
    {"base: &b {concurrency: 2}\nop:\n  a: *b\n", "t.yml:1:7: YAML: anchors are not read (&b)"},
    {"op:\n  a: *b\n", "t.yml:2:6: YAML: aliases are not read (*b)"},
    {"op:\n  a:\n---\nop:\n  b:\n", "t.yml:3:1: YAML: a second document; config.yml holds one"},
};

static void test_errors(void **state)
{
    char buf[1024];
    for (size_t i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
        const err_case *e = &err_cases[i];
        const char *got = parse_err(e->yml, strlen(e->yml), buf, sizeof(buf));
        if (strcmp(got, e->want))
            fail_msg("case %zu:\n%s\nwant: %s\ngot:  %s", i, e->yml, e->want, got);
    }
}

/* A growable text for the generated cases below. */
static char *gen(size_t cap)
{
    char *s = calloc(1, cap);
    assert_non_null(s);
    return s;
}

static void test_limits(void **state)
{
    char buf[1024];
    size_t cap = 1 << 16;
    char *s = gen(cap);
    /* nesting deeper than 32 */
    size_t n = (size_t)snprintf(s, cap, "op:\n  a:\n    preprocess:\n      - X: {v: ");
    for (int i = 0; i < 40; i++)
        s[n++] = '[';
    for (int i = 0; i < 40; i++)
        s[n++] = ']';
    memcpy(s + n, "}\n", 3);
    assert_string_equal(parse_err(s, strlen(s), buf, sizeof(buf)),
                        "t.yml:4:42: YAML: nested deeper than 32 levels");
    /* 257 ops */
    n = (size_t)snprintf(s, cap, "op:\n");
    for (int i = 0; i <= SKIFF__PIPE_MAX_OPS; i++)
        n += (size_t)snprintf(s + n, cap - n, "  op%d:\n", i);
    assert_string_equal(parse_err(s, n, buf, sizeof(buf)),
                        "t.yml:2: op: 257 ops; at most 256 are read");
    /* 65 steps */
    n = (size_t)snprintf(s, cap, "op:\n  a:\n    preprocess:\n");
    for (int i = 0; i <= SKIFF__PIPE_MAX_STEPS; i++)
        n += (size_t)snprintf(s + n, cap - n, "      - S%d\n", i);
    assert_string_equal(parse_err(s, n, buf, sizeof(buf)),
                        "t.yml:4: op.a.preprocess: 65 steps; at most 64 are read");
    /* 65 params */
    n = (size_t)snprintf(s, cap, "op:\n  a:\n    preprocess:\n      - S:\n");
    for (int i = 0; i <= SKIFF__PIPE_MAX_PARAMS; i++)
        n += (size_t)snprintf(s + n, cap - n, "          p%d: %d\n", i, i);
    assert_string_equal(parse_err(s, n, buf, sizeof(buf)),
                        "t.yml:5: op.a.preprocess[0].S: 65 params; at most 64 are read");
    /* 257 names in one list */
    n = (size_t)snprintf(s, cap, "op:\n  a:\n    fetch_list: [");
    for (int i = 0; i <= SKIFF__PIPE_MAX_LIST; i++)
        n += (size_t)snprintf(s + n, cap - n, "%sf%d", i ? ", " : "", i);
    n += (size_t)snprintf(s + n, cap - n, "]\n");
    assert_string_equal(parse_err(s, n, buf, sizeof(buf)),
                        "t.yml:3: op.a.fetch_list: 257 names; at most 256 are read");
    /* notes past the cap are counted in one more line */
    n = (size_t)snprintf(s, cap, "op:\n  a:\n");
    for (int i = 0; i < 250; i++)
        n += (size_t)snprintf(s + n, cap - n, "k%d: 1\n", i);
    n += (size_t)snprintf(s + n, cap - n, "dag:\n");
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(s + n, cap - n, "  d%d: 1\n", i);
    skiff__pipe_conf *c = parse_ok(s, "t.yml");
    assert_int_equal(c->n_notes, SKIFF__PIPE_MAX_NOTES + 1);
    assert_string_equal(c->notes[0], "t.yml:3: k0: not a key skiff reads (ignored)");
    assert_string_equal(c->notes[SKIFF__PIPE_MAX_NOTES], "t.yml: 44 more notes not listed");
    skiff__pipe_conf_free(c);
    free(s);
    /* more than 1 MiB */
    size_t big = SKIFF__PIPE_MAX_FILE + 1;
    s = gen(big + 1);
    memset(s, '#', big);
    assert_string_equal(parse_err(s, big, buf, sizeof(buf)),
                        "t.yml: 1048577 bytes; a pipeline config may have at most 1048576");
    free(s);
}

static void test_load(void **state)
{
    char dir[] = "/tmp/skiff_pipe_conf_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/config.yml", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(uci_yml, f);
    fclose(f);
    skiff__pipe_conf *c = NULL;
    skiff_status_t *st = skiff__pipe_conf_load(path, &c);
    assert_null(st);
    assert_string_equal(c->dir, dir);
    char want[300];
    snprintf(want, sizeof(want), "%s/uci_housing_model", dir);
    assert_string_equal(c->ops[0].model_config, want);
    skiff__pipe_conf_free(c);
    /* larger than 1 MiB: refused before it is read */
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)SKIFF__PIPE_MAX_FILE, SEEK_SET), 0);
    fputc('\n', f);
    fclose(f);
    st = skiff__pipe_conf_load(path, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    assert_non_null(strstr(skiff_status_message(st), "1048577 bytes; a pipeline config may have "
                                                     "at most 1048576"));
    assert_null(c);
    skiff_status_free(st);
    unlink(path);
    st = skiff__pipe_conf_load(path, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_NOT_FOUND);
    skiff_status_free(st);
    st = skiff__pipe_conf_load(dir, &c);
    assert_int_equal(skiff_status_code(st), SKIFF_CODE_INVALID_ARG);
    skiff_status_free(st);
    rmdir(dir);
}

/* Every allocation the reader makes, failed in turn: a clean
 * RESOURCE_EXHAUSTED each time, and nothing leaked (LeakSanitizer). */
static void test_alloc_failure(void **state)
{
    for (long n = 1;; n++) {
        skiff__alloc_fail_at(n);
        skiff__pipe_conf *c = NULL;
        skiff_status_t *st = skiff__pipe_conf_parse(ocr_yml, strlen(ocr_yml), "conf/ocr.yml", &c);
        bool failed = skiff__alloc_failed();
        skiff__alloc_fail_at(0);
        if (!failed) {
            assert_null(st);
            assert_int_equal(c->n_ops, 3);
            skiff__pipe_conf_free(c);
            assert_true(n > 3);
            break;
        }
        if (st)
            assert_int_equal(skiff_status_code(st), SKIFF_CODE_RESOURCE_EXHAUSTED);
        skiff_status_free(st);
        skiff__pipe_conf_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uci),           cmocka_unit_test(test_ocr),
        cmocka_unit_test(test_defaults),      cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_load),
        cmocka_unit_test(test_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
