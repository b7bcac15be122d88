/* util: whole-file reads, FNV-1a, path joining, formatted strings, a string
 * table (util.h). */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FILE_READ_MAX ((size_t)64 << 20)

/* A first buffer for FP: its size when it is a regular file (then one
 * read fills it and the next meets the end), else 64 KiB. */
static size_t first_capacity(FILE *fp, size_t max)
{
	struct stat st;
	if (!fstat(fileno(fp), &st) && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (uint64_t)st.st_size <= max)
		return (size_t)st.st_size + 1;
	return (size_t)1 << 16;
}

int stream_read_all(FILE *fp, const char *name, size_t max, unsigned char **buf,
		    size_t *n)
{
	size_t cap = first_capacity(fp, max), len = 0;
	unsigned char *p = NULL;
	*buf = NULL;
	*n = 0;
	for (;;) {
		if (!p || len == cap) {
			if (p && cap > max)
				break;	/* more than MAX bytes */
			if (p)
				cap = cap > max / 2 ? max + 1 : 2 * cap;
			unsigned char *q = realloc(p, cap + 1);
			if (!q) {
				free(p);
				return hm_error("out of memory");
			}
			p = q;
		}
		size_t got = fread(p + len, 1, cap - len, fp);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(fp)) {
		free(p);
		return hm_error_file(name, "read error: %s", strerror(errno));
	}
	if (len > max) {
		free(p);
		return hm_error_file(name, "larger than %zu MiB", max >> 20);
	}
	p[len] = '\0';
	*buf = p;
	*n = len;
	return 0;
}

int file_read_all(const char *path, unsigned char **buf, size_t *n)
{
	*buf = NULL;
	*n = 0;
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return hm_error_file(path, "cannot open: %s", strerror(errno));
	int rc = stream_read_all(fp, path, FILE_READ_MAX, buf, n);
	fclose(fp);
	return rc;
}

uint64_t fnv1a_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

int write_fmt(FILE *fp, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vfprintf(fp, fmt, ap);
	va_end(ap);
	return r < 0 ? write_error() : 0;
}

int write_error(void)
{
	return hm_error("write error: %s", strerror(errno ? errno : EIO));
}

struct replay {
	FILE *fp;
	int close_fp;
	size_t n, pos;
	unsigned char head[];
};

static ssize_t replay_read(void *cookie, char *buf, size_t size)
{
	struct replay *r = cookie;
	if (r->pos < r->n) {
		size_t k = r->n - r->pos < size ? r->n - r->pos : size;
		memcpy(buf, r->head + r->pos, k);
		r->pos += k;
		return (ssize_t)k;
	}
	size_t got = fread(buf, 1, size, r->fp);
	return got == 0 && ferror(r->fp) ? -1 : (ssize_t)got;
}

static int replay_close(void *cookie)
{
	struct replay *r = cookie;
	int rc = r->close_fp && r->fp != stdin ? fclose(r->fp) : 0;
	free(r);
	return rc;
}

FILE *replay_open(FILE *fp, const void *head, size_t n, int close_fp)
{
	struct replay *r = malloc(sizeof *r + n);
	FILE *in = NULL;
	if (r) {
		*r = (struct replay){ .fp = fp, .close_fp = close_fp, .n = n };
		if (n)
			memcpy(r->head, head, n);
		in = fopencookie(r, "rb", (cookie_io_functions_t){ .read = replay_read,
								    .close = replay_close });
	}
	if (!in) {
		free(r);
		hm_error("out of memory");
	}
	return in;
}

char *path_join(const char *dir, const char *name)
{
	size_t nd = strlen(dir), nn = strlen(name), k = nd ? nd + 1 : 0;
	char *p = malloc(k + nn + 1);
	if (!p) {
		hm_error("out of memory");
		return NULL;
	}
	memcpy(p, dir, nd);
	if (nd)
		p[nd] = '/';
	memcpy(p + k, name, nn + 1);
	return p;
}

char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	va_start(ap, fmt);
	int k = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (k < 0) {
		hm_error("out of memory");
		return NULL;
	}
	return p;
}

/* The slot holding KEY, or the empty slot where it would go. */
static long probe(const struct strtab *t, const char *key)
{
	long mask = t->n_slot - 1, i = (long)(fnv1a_str(key) & (uint64_t)mask);
	while (t->slot[i] && strcmp(t->key[t->slot[i] - 1], key))
		i = (i + 1) & mask;
	return i;
}

long strtab_find(const struct strtab *t, const char *key)
{
	return t->n_slot ? t->slot[probe(t, key)] - 1 : -1;
}

/* Twice the slots (64 at first), every string placed again. */
static int grow_slots(struct strtab *t)
{
	long n_slot = t->n_slot ? 2 * t->n_slot : 64;
	long *slot = calloc((size_t)n_slot, sizeof *slot);
	if (!slot)
		return hm_error("out of memory");
	free(t->slot);
	t->slot = slot;
	t->n_slot = n_slot;
	for (long i = 0; i < t->n; i++)
		t->slot[probe(t, t->key[i])] = i + 1;
	return 0;
}

long strtab_add(struct strtab *t, const char *key, int *added)
{
	if (added)
		*added = 0;
	if (2 * (t->n + 1) > t->n_slot && grow_slots(t))
		return -1;
	long s = probe(t, key);
	if (t->slot[s])
		return t->slot[s] - 1;
	if (t->n == t->cap) {
		long cap = t->cap ? 2 * t->cap : 256;
		const char **k = realloc(t->key, (size_t)cap * sizeof *k);
		if (!k)
			return hm_error("out of memory");
		t->key = k;
		t->cap = cap;
	}
	t->key[t->n] = key;
	t->slot[s] = ++t->n;
	if (added)
		*added = 1;
	return t->n - 1;
}

void strtab_free(struct strtab *t)
{
	free(t->key);
	free(t->slot);
	memset(t, 0, sizeof *t);
}

int buf_reserve(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 64;
	while (n < need && n <= SIZE_MAX / 2 / size)
		n *= 2;
	if (n < need)
		return hm_error("out of memory (%zu elements of %zu bytes)", need, size);
	void *q = realloc(*p, n * size);
	if (!q)
		return hm_error("out of memory (%zu bytes)", n * size);
	*p = q;
	*cap = n;
	return 0;
}
