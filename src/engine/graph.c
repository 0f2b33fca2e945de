/* graph.c - graph IR bookkeeping: values by name, consumer counts, freeing
 * (a node's subgraphs with it). */
#include <string.h>

#include "engine_int.h"

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static bool rehash(skiff__graph *g, int cap)
{
    int *h = skiff__malloc(sizeof(int) * (size_t)cap);
    if (!h)
        return false;
    memset(h, 0xff, sizeof(int) * (size_t)cap);
    for (int i = 0; i < g->n_values; i++) {
        uint32_t k = name_hash(g->values[i].name) & (uint32_t)(cap - 1);
        while (h[k] >= 0)
            k = (k + 1) & (uint32_t)(cap - 1);
        h[k] = i;
    }
    skiff__free(g->hash);
    g->hash = h;
    g->hash_cap = cap;
    return true;
}

int skiff__graph_find_value(const skiff__graph *g, const char *name)
{
    if (!g->hash_cap)
        return -1;
    uint32_t k = name_hash(name) & (uint32_t)(g->hash_cap - 1);
    while (g->hash[k] >= 0) {
        if (strcmp(g->values[g->hash[k]].name, name) == 0)
            return g->hash[k];
        k = (k + 1) & (uint32_t)(g->hash_cap - 1);
    }
    return -1;
}

int skiff__graph_add_value(skiff__graph *g, const char *name)
{
    if (g->n_values == g->cap_values) {
        int cap = g->cap_values ? g->cap_values * 2 : 64;
        skiff__value *nv = skiff__realloc(g->values, sizeof(*nv) * (size_t)cap);
        if (!nv)
            return -1;
        g->values = nv;
        g->cap_values = cap;
    }
    char *nm = skiff__strdup(name);
    if (!nm)
        return -1;
    if ((g->n_values + 1) * 2 >= g->hash_cap && !rehash(g, g->hash_cap ? g->hash_cap * 2 : 128)) {
        skiff__free(nm);
        return -1;
    }
    int idx = g->n_values++;
    skiff__value *v = &g->values[idx];
    memset(v, 0, sizeof(*v));
    v->name = nm;
    v->ndim = -1;
    v->producer = -1;
    uint32_t k = name_hash(nm) & (uint32_t)(g->hash_cap - 1);
    while (g->hash[k] >= 0)
        k = (k + 1) & (uint32_t)(g->hash_cap - 1);
    g->hash[k] = idx;
    return idx;
}

void skiff__graph_recount(skiff__graph *g)
{
    for (int i = 0; i < g->n_values; i++) {
        g->values[i].n_consumers = g->values[i].is_output ? 1 : 0;
        g->values[i].producer = -1;
    }
    for (int i = 0; i < g->n_nodes; i++) {
        const skiff__node *n = &g->nodes[i];
        if (n->dead)
            continue;
        for (int k = 0; k < n->n_in; k++)
            if (n->in[k] >= 0)
                g->values[n->in[k]].n_consumers++;
        if (n->sum_input >= 0)
            g->values[n->sum_input].n_consumers++;
        for (int k = 0; k < n->n_out; k++)
            if (n->out[k] >= 0)
                g->values[n->out[k]].producer = i;
    }
}

static void attr_free(skiff__attr *a)
{
    skiff__free(a->name);
    skiff__free(a->s);
    skiff__free(a->ints);
    skiff__free(a->floats);
    if (a->strings)
        for (int i = 0; i < a->n; i++)
            skiff__free(a->strings[i]);
    skiff__free(a->strings);
    skiff_tensor_free(a->t);
    skiff__graph_free(a->g);
    skiff_model_free(a->sub);
    skiff__free(a->sub_in);
}

void skiff__node_free_fields(skiff__node *n)
{
    if (n->op && n->op->prep_free && n->prep)
        n->op->prep_free(n->prep);
    n->prep = NULL;
    skiff__free(n->name);
    skiff__free(n->op_type);
    skiff__free(n->domain);
    skiff__free(n->in);
    skiff__free(n->out);
    if (n->attrs)
        for (int i = 0; i < n->n_attrs; i++)
            attr_free(&n->attrs[i]);
    skiff__free(n->attrs);
}

void skiff__graph_free(skiff__graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n_nodes; i++)
        skiff__node_free_fields(&g->nodes[i]);
    skiff__free(g->nodes);
    for (int i = 0; i < g->n_values; i++) {
        skiff__free(g->values[i].name);
        skiff_tensor_free(g->values[i].constant);
    }
    skiff__free(g->values);
    skiff__free(g->inputs);
    skiff__free(g->outputs);
    skiff__free(g->name);
    skiff__free(g->hash);
    for (int i = 0; i < g->n_ext_files; i++)
        skiff__free(g->ext_files[i]);
    skiff__free(g->ext_files);
    skiff__free(g->paddle_program);
    skiff__free(g->captured);
    skiff__free(g);
}
