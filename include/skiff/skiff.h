/* skiff/skiff.h - umbrella header for the public API. */
#ifndef SKIFF_SKIFF_H
#define SKIFF_SKIFF_H

#include "skiff/api.h"
#include "skiff/engine.h"
#include "skiff/log.h"
#include "skiff/status.h"
#include "skiff/steps.h"
#include "skiff/tensor.h"
#include "skiff/version.h"

#endif
