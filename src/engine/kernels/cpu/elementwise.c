/* elementwise.c - (kernels being written) */
#include "../../engine_int.h"

const skiff__op skiff__ops_elementwise[] = {
    {NULL, 0, NULL, NULL, NULL, NULL},
};
