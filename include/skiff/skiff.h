/* skiff/skiff.h - umbrella header for the public API. */
#ifndef SKIFF_SKIFF_H
#define SKIFF_SKIFF_H

#include "skiff/engine.h"
#include "skiff/status.h"
#include "skiff/tensor.h"

#define SKIFF_VERSION "0.1.0"

#endif
