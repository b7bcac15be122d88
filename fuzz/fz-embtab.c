/*
 * fz-embtab: the key -> entry table (embtab.h) that hm-verify fills from
 * record keys.  The input is split into keys at '\n' (a NUL byte ends a
 * key early, as it would a C string).
 *
 * Checks against a naive list: embtab_add() numbers new keys 0, 1, ... and
 * finds old ones, embtab_find() agrees for every key, each entry keeps its
 * key, and vectors are created zeroed with the asked size.
 */
#include "embtab.h"
#include "fz.h"

#define FZET_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct embtab *t = embtab_new();
	FZ_CHECK(t != NULL);
	char *text = malloc(size + 1);
	FZ_CHECK(text != NULL);
	memcpy(text, data, size);
	text[size] = '\0';
	const char *key[FZET_MAX];
	long n_keys = 0, n_new = 0;
	for (char *s = text, *e; s && n_keys < FZET_MAX; s = e ? e + 1 : NULL) {
		e = memchr(s, '\n', (size_t)(text + size - s));
		if (e)
			*e = '\0';
		int added = -1;
		long want = -1;
		for (long i = 0; i < n_keys && want < 0; i++)
			if (!strcmp(key[i], s))
				want = embtab_find(t, key[i]);
		long k = embtab_add(t, s, &added);
		FZ_CHECK(k >= 0);
		if (want >= 0) {
			FZ_CHECK(!added && k == want);
		} else {
			FZ_CHECK(added == 1 && k == n_new);
			n_new++;
			double *v = embtab_vec(t, k, 1 + (int)(k % 7));
			FZ_CHECK(v != NULL);
			for (int i = 0; i < 1 + (int)(k % 7); i++)
				FZ_CHECK(v[i] == 0.0);
			v[0] = (double)k;
		}
		key[n_keys++] = s;
	}
	FZ_CHECK(embtab_count(t) == n_new);
	for (long i = 0; i < n_keys; i++) {
		long k = embtab_find(t, key[i]);
		FZ_CHECK(k >= 0 && k < n_new);
		struct embtab_entry *en = embtab_entry(t, k);
		FZ_CHECK(!strcmp(en->key, key[i]));
		FZ_CHECK(en->vec && en->vec[0] == (double)k);
	}
	FZ_CHECK(embtab_find(t, "\x01not-a-key") < 0 || memchr(data, 1, size));
	embtab_free(t);
	free(text);
	return 0;
}
