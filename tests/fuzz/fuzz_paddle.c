/* fuzz_paddle.c - Paddle's program and parameter files: the ProgramDesc
 * decoder (protobuf-c, framework.proto), the tensor-stream reader of
 * combined parameters, the checks against each VarDesc, feed/fetch, and the
 * op mappings into the graph.
 *
 * Input: 4 bytes (little-endian) of program length, the program, then the
 * combined parameter file; both are written to a private directory as
 * __model__ and __params__ and loaded as a user's model would be. Seeds:
 * corpus/fuzz_paddle/, small programs and parameters tools/paddle_seeds.py
 * builds from src/engine/paddle/framework.proto (a run may add the real
 * models of ../paddle-models as extra seeds; they stay out of the
 * repository).
 *
 * Beyond "no crash, no leak": a refusal is a clean status; a model that loads
 * runs once on zeros of its declared input shapes (batch 1). */
#include "fuzz_paddle_files.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pd_setup("paddle", "__model__", "__params__");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return pd_fuzz_one(data, size); }
