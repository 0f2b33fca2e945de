/* registry.c - maps (domain, op_type, opset) to a kernel. The op tables live
 * beside their kernels, one per file; this file only chains them.
 *
 * A row matches when its domain is the node's (ONNX's default domain is ""
 * or "ai.onnx"), its type is the node's op_type and the node's opset is at
 * least its min_opset. A node of a custom domain therefore never resolves to
 * the ONNX op of the same name: it is reported as unsupported unless a table
 * registers that domain. */
#include <string.h>

#include "engine_int.h"

#define TABLE(t)                                                                                   \
    {                                                                                              \
        .name = #t, .ops = skiff__ops_##t                                                          \
    }

static const struct {
    const char *name;
    const skiff__op *ops;
} op_tables[] = {
    /* clang-format off */
    TABLE(elementwise), TABLE(cast), TABLE(softmax), TABLE(reduce), TABLE(shape),
    TABLE(gather), TABLE(layout), TABLE(conv), TABLE(gemm), TABLE(pool),
    TABLE(nn), TABLE(rnn), TABLE(resize), TABLE(einsum), TABLE(misc),
    TABLE(quant), TABLE(quant_conv), TABLE(quant_matmul), TABLE(control), TABLE(sequence),
    TABLE(loss), TABLE(detect), TABLE(sample), TABLE(signal), TABLE(bitwise),
    TABLE(unique), TABLE(strings), TABLE(random),
    /* Paddle's own semantics (domain "paddle"), one table per line */
    TABLE(paddle_quant),
    TABLE(paddle_detect),
    TABLE(paddle_seq),
    /* clang-format on */
};

/* NULL, "" and "ai.onnx" all name ONNX's default domain. */
static bool default_domain(const char *d) { return !d || !d[0] || strcmp(d, "ai.onnx") == 0; }

static bool same_domain(const char *a, const char *b)
{
    bool da = default_domain(a), db = default_domain(b);
    return da || db ? da && db : strcmp(a, b) == 0;
}

const skiff__op *skiff__op_find(const char *domain, const char *op_type, int opset)
{
    for (size_t t = 0; t < sizeof(op_tables) / sizeof(op_tables[0]); t++)
        for (const skiff__op *op = op_tables[t].ops; op->type; op++)
            if (op->backend == SKIFF_BACKEND_CPU && strcmp(op->type, op_type) == 0 &&
                opset >= op->min_opset && same_domain(op->domain, domain))
                return op;
    return NULL;
}

void skiff__op_foreach(void (*fn)(const skiff__op *op, const char *table, void *arg), void *arg)
{
    for (size_t t = 0; t < sizeof(op_tables) / sizeof(op_tables[0]); t++)
        for (const skiff__op *op = op_tables[t].ops; op->type; op++)
            fn(op, op_tables[t].name, arg);
}
