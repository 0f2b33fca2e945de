/* fuzz_paddle_pir.c - Paddle 3's PIR programs: the JSON reader and the
 * translation of PIR ops into legacy ones (src/engine/paddle_pir.c), then
 * what the ProgramDesc loader shares with it: the tensor-stream reader of the
 * combined parameters, the checks against each variable, feed/fetch and the
 * op mappings into the graph.
 *
 * Input: 4 bytes (little-endian) of program length, the program's JSON text,
 * then the combined parameter file; both are written to a private directory
 * as inference.json and inference.pdiparams and loaded as a user's model
 * would be. Seeds: corpus/fuzz_paddle_pir/, small programs and parameters
 * that tools/paddle_seeds.py writes with the builder of
 * tests/paddle_ops/cases_pir.py (nothing of a real model). fuzz_paddle_pir.dict
 * holds the format's keys and op names.
 *
 * Beyond "no crash, no leak": a refusal is a clean status; a model that loads
 * runs once on zeros of its declared input shapes (batch 1), as fuzz_paddle.c
 * does. */
#include "fuzz_paddle_files.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pd_setup("pir", "inference.json", "inference.pdiparams");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return pd_fuzz_one(data, size); }
