/*
 * embtab: a hash table from string keys to embedding entries (hm-verify's
 * key -> vector map; also used as a plain set of keys).
 *
 * Entries are numbered 0, 1, ... in the order they were added; the numbers
 * stay valid while the table lives (the entry storage may move on a later
 * embtab_add(): take pointers from embtab_entry() only between additions).
 * Each entry has a copy of its key, a vector of DIM doubles (NULL until
 * embtab_vec() creates it, zeroed), a count the caller may use (frames added)
 * and a record number (-1 until the caller sets it).  Lookup is a strtab
 * (util.h) over the keys.
 *
 * Ownership: the table owns keys and vectors; embtab_free() frees all.
 * Functions that allocate return -1 / NULL with "out of memory" recorded.
 */
#ifndef HM_EMBTAB_H
#define HM_EMBTAB_H

struct embtab_entry {
	char *key;
	double *vec;	/* dim values, or NULL */
	long count;	/* caller's: records added to vec */
	long record;	/* caller's: record number, -1 none */
};

struct embtab;

struct embtab *embtab_new(void);
void embtab_free(struct embtab *t);
/* Entry number of KEY, or -1 when absent. */
long embtab_find(const struct embtab *t, const char *key);
/* Entry number of KEY, adding it when absent (*ADDED, if not NULL, says
 * which).  -1 out of memory. */
long embtab_add(struct embtab *t, const char *key, int *added);
/* Entries so far. */
long embtab_count(const struct embtab *t);
/* Entry I (0 <= I < count). */
struct embtab_entry *embtab_entry(struct embtab *t, long i);
/* Entry I's vector, created zeroed with DIM values on first use (the same
 * DIM every time).  NULL out of memory. */
double *embtab_vec(struct embtab *t, long i, int dim);

#endif
