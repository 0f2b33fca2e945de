/* misc.c - (kernels being written) */
#include "../../engine_int.h"

const skiff__op skiff__ops_misc[] = {
    {NULL, 0, NULL, NULL, NULL, NULL},
};
