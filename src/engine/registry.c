/* registry.c - maps (domain, op_type, opset) to a kernel. The op tables live
 * beside their kernels; this file only chains them. */
#include <string.h>

#include "engine_int.h"

static const skiff__op *const op_tables[] = {
    skiff__ops_elementwise, skiff__ops_reduce, skiff__ops_shape,
    skiff__ops_nn,          skiff__ops_rnn,    skiff__ops_misc,
};

const skiff__op *skiff__op_find(const char *domain, const char *op_type, int opset)
{
    if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0 && strcmp(domain, "skiff") != 0)
        return NULL;
    for (size_t t = 0; t < sizeof(op_tables) / sizeof(op_tables[0]); t++)
        for (const skiff__op *op = op_tables[t]; op->type; op++)
            if (strcmp(op->type, op_type) == 0 && opset >= op->min_opset)
                return op;
    return NULL;
}
