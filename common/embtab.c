/* embtab: string-keyed hash of embedding entries (see embtab.h). */
#include "embtab.h"
#include "err.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct embtab {
	struct embtab_entry *e;
	long n, cap;
	long *slot;	/* entry number + 1, 0 = empty; n_slot a power of two */
	long n_slot;
};

struct embtab *embtab_new(void)
{
	struct embtab *t = calloc(1, sizeof *t);
	if (t) {
		t->n_slot = 64;
		t->slot = calloc((size_t)t->n_slot, sizeof *t->slot);
		if (!t->slot) {
			free(t);
			t = NULL;
		}
	}
	if (!t)
		hm_error("out of memory");
	return t;
}

void embtab_free(struct embtab *t)
{
	if (!t)
		return;
	for (long i = 0; i < t->n; i++) {
		free(t->e[i].key);
		free(t->e[i].vec);
	}
	free(t->e);
	free(t->slot);
	free(t);
}

/* The slot holding KEY, or the empty slot where it would go. */
static long probe(const struct embtab *t, const char *key)
{
	long mask = t->n_slot - 1, i = (long)(fnv1a_str(key) & (uint64_t)mask);
	while (t->slot[i] && strcmp(t->e[t->slot[i] - 1].key, key))
		i = (i + 1) & mask;
	return i;
}

long embtab_find(const struct embtab *t, const char *key)
{
	return t->slot[probe(t, key)] - 1;
}

static int rehash(struct embtab *t)
{
	long n_slot = t->n_slot * 2;
	long *slot = calloc((size_t)n_slot, sizeof *slot);
	if (!slot)
		return hm_error("out of memory");
	free(t->slot);
	t->slot = slot;
	t->n_slot = n_slot;
	for (long i = 0; i < t->n; i++)
		t->slot[probe(t, t->e[i].key)] = i + 1;
	return 0;
}

long embtab_add(struct embtab *t, const char *key, int *added)
{
	long s = probe(t, key);
	if (added)
		*added = 0;
	if (t->slot[s])
		return t->slot[s] - 1;
	if (t->n == t->cap) {
		long cap = t->cap ? 2 * t->cap : 256;
		struct embtab_entry *e = realloc(t->e, (size_t)cap * sizeof *e);
		if (!e)
			return hm_error("out of memory");
		t->e = e;
		t->cap = cap;
	}
	char *k = strdup(key);
	if (!k)
		return hm_error("out of memory");
	t->e[t->n] = (struct embtab_entry){ .key = k, .record = -1 };
	t->slot[s] = ++t->n;
	if (2 * t->n > t->n_slot && rehash(t))
		return -1;
	if (added)
		*added = 1;
	return t->n - 1;
}

long embtab_count(const struct embtab *t)
{
	return t->n;
}

struct embtab_entry *embtab_entry(struct embtab *t, long i)
{
	return &t->e[i];
}

double *embtab_vec(struct embtab *t, long i, int dim)
{
	if (!t->e[i].vec) {
		t->e[i].vec = calloc((size_t)dim, sizeof(double));
		if (!t->e[i].vec)
			hm_error("out of memory");
	}
	return t->e[i].vec;
}
