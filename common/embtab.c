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
	struct strtab keys;	/* key i is e[i].key */
};

struct embtab *embtab_new(void)
{
	struct embtab *t = calloc(1, sizeof *t);
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
	strtab_free(&t->keys);
	free(t);
}

long embtab_find(const struct embtab *t, const char *key)
{
	return strtab_find(&t->keys, key);
}

long embtab_add(struct embtab *t, const char *key, int *added)
{
	long i = strtab_find(&t->keys, key);
	if (added)
		*added = 0;
	if (i >= 0)
		return i;
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
	if (strtab_add(&t->keys, k, NULL) < 0) {
		free(k);
		return -1;
	}
	t->e[t->n++] = (struct embtab_entry){ .key = k, .record = -1 };
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
