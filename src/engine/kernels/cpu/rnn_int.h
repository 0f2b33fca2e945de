/* rnn_int.h - what rnn.c (configuration, packing, the run) and rnn_recur.c
 * (the time loop and its vectorised kernels) share. */
#ifndef SKIFF_KERNELS_RNN_INT_H
#define SKIFF_KERNELS_RNN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "../../engine_int.h"

typedef enum cell_kind { CELL_RNN, CELL_GRU, CELL_LSTM } cell_kind;

typedef enum act_kind {
    ACT_SIGMOID,
    ACT_TANH,
    ACT_RELU,
    ACT_AFFINE,
    ACT_LEAKYRELU,
    ACT_THRESHOLDEDRELU,
    ACT_SCALEDTANH,
    ACT_HARDSIGMOID,
    ACT_ELU,
    ACT_SOFTSIGN,
    ACT_SOFTPLUS,
} act_kind;

typedef struct rnn_act {
    act_kind kind;
    float alpha, beta;
} rnn_act;

#define RNN_MAX_ACTS 3 /* per direction: f, g, h for LSTM */

typedef struct rnn_cfg {
    cell_kind cell;
    int gates;      /* gate blocks in W/R: 1 RNN, 3 GRU, 4 LSTM */
    int dirs;       /* 1 or 2 */
    bool reverse;   /* single direction, processed back to front */
    int64_t hidden; /* hidden_size attribute, -1 when absent */
    int layout;     /* 0: [seq, batch, ...], 1: [batch, seq, ...] */
    bool has_clip;
    float clip;
    bool input_forget;
    bool lbr; /* GRU linear_before_reset */
    int nact; /* activations per direction */
    rnn_act act[2][RNN_MAX_ACTS];
} rnn_cfg;

/* Weights packed at load time from constant R and B. */
typedef struct rnn_prep {
    int64_t hidden, input_rows; /* R's shape the packing was made for */
    int dirs;
    float *rt;   /* [dirs][panel_floats]: R^T in 64-column panels (see pack_panels) */
    float *bias; /* [dirs][G*H]: Wb + Rb (GRU lbr: Wbh only for the h gate) */
    float *rbh;  /* [dirs][H]: GRU Rbh kept apart for linear_before_reset */
    bool have_bias;
} rnn_prep;

/* Everything the time loop reads and writes; see skiff__rnn_recur. */
typedef struct recur_args {
    const rnn_cfg *cfg;
    cell_kind cell;
    int64_t H, GH, seq, batch;
    int dirs;
    const int64_t *lens;
    const float *rt;
    int64_t per_dir;
    const float *R, *bias, *rbh, *xw, *P;
    float *hs, *cs, *gates, *rec, *tmp, *Y;
    int64_t max_len;
} recur_args;

/* Floats of one direction's R^T packed in 64-column panels. */
int64_t skiff__rnn_packed_floats(cell_kind cell, int64_t H);
/* Packs R [dirs][G*H][H] as R^T panels, skiff__rnn_packed_floats each. */
void skiff__rnn_pack_panels(cell_kind cell, const float *R, int dirs, int64_t H, float *out);

/* The time loop of direction d for batch rows [b0, b1). Rows and directions
 * share nothing, so disjoint calls may run at once. */
void skiff__rnn_recur(const recur_args *ra, int d, int64_t b0, int64_t b1, int threads);

#endif
