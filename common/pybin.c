/*
 * The pickle machine, reduced to what an insightface .bin holds.  Opcode
 * meanings follow CPython's Lib/pickletools.py; the stack discipline (a
 * separate stack of marks, no popping below the last mark) follows
 * Modules/_pickle.c.  Lists and tuples live in one arena (objs) and values
 * refer to them by index, so shared references through the memo and even
 * cycles cost nothing and need no recursion to free.
 */
#include "pybin.h"
#include "err.h"
#include "rec.h"
#include "util.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values pushed, appended or memoised, all together: far above any real
 * verification set (lfw.bin has 12000 images), low enough to bound memory. */
#define MAX_VALUES (1L << 22)
#define MAX_GLOBAL 64

enum { V_NONE, V_INT, V_BYTES, V_STR, V_LIST, V_TUPLE, V_ENCODE, V_BYTES_TYPE };

struct pv {
	int t;
	union {
		long long i;		/* V_INT (booleans too) */
		size_t obj;		/* V_LIST, V_TUPLE: index into objs */
		struct {
			const unsigned char *p;
			size_t n;
		} s;			/* V_BYTES, V_STR */
	} u;
};

struct pobj {
	struct pv *v;
	size_t n, cap;
};

struct machine {
	const unsigned char *buf;
	size_t n, pos, op_at;
	const char *name;
	long budget;
	struct pv *stack;
	size_t sp, scap;
	size_t *marks;
	size_t n_marks, mcap;
	struct pv *memo;
	unsigned char *memo_set;
	size_t memo_n, n_puts;
	struct pobj *objs;
	size_t n_objs, ocap;
	unsigned char **owned;
	size_t n_owned, owncap;
};

#define FAIL(m, ...) fail(m, __VA_ARGS__)

static int fail(struct machine *m, const char *fmt, ...) HM_PRINTF(2, 3);
static int fail(struct machine *m, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return hm_error_file(m->name, "byte %zu: %s", m->op_at, what);
}

static int spend(struct machine *m)
{
	if (--m->budget < 0)
		return FAIL(m, "more than %ld objects (not an insightface .bin?)", MAX_VALUES);
	return 0;
}

static int push(struct machine *m, struct pv v)
{
	if (spend(m) || buf_reserve((void **)&m->stack, &m->scap, m->sp + 1, sizeof *m->stack))
		return -1;
	m->stack[m->sp++] = v;
	return 0;
}

static size_t fence(const struct machine *m)
{
	return m->n_marks ? m->marks[m->n_marks - 1] : 0;
}

static int pop(struct machine *m, struct pv *v)
{
	if (m->sp <= fence(m))
		return FAIL(m, "pickle stack underflow");
	*v = m->stack[--m->sp];
	return 0;
}

static int top(struct machine *m, struct pv **v)
{
	if (m->sp <= fence(m))
		return FAIL(m, "pickle stack underflow");
	*v = &m->stack[m->sp - 1];
	return 0;
}

/* Pops back to the last mark; the values stay at stack[*at .. old sp). */
static int pop_mark(struct machine *m, size_t *at)
{
	if (!m->n_marks)
		return FAIL(m, "no MARK before this opcode");
	*at = m->marks[--m->n_marks];
	return 0;
}

static int new_obj(struct machine *m, int type, struct pv *v)
{
	if (spend(m) || buf_reserve((void **)&m->objs, &m->ocap, m->n_objs + 1, sizeof *m->objs))
		return -1;
	memset(&m->objs[m->n_objs], 0, sizeof *m->objs);
	v->t = type;
	v->u.obj = m->n_objs++;
	return 0;
}

static int obj_append(struct machine *m, size_t obj, const struct pv *items, size_t k)
{
	struct pobj *o = &m->objs[obj];
	if (k == 0)
		return 0;
	for (size_t i = 0; i < k; i++)
		if (spend(m))
			return -1;
	if (buf_reserve((void **)&o->v, &o->cap, o->n + k, sizeof *o->v))
		return -1;
	memcpy(o->v + o->n, items, k * sizeof *items);
	o->n += k;
	return 0;
}

/* Reads K argument bytes of the current opcode. */
static int arg(struct machine *m, size_t k, const unsigned char **p)
{
	if (k > m->n - m->pos)
		return FAIL(m, "pickle truncated (argument needs %zu bytes, %zu left)", k,
			    m->n - m->pos);
	*p = m->buf + m->pos;
	m->pos += k;
	return 0;
}

static int arg_uint(struct machine *m, size_t k, uint64_t *v)
{
	const unsigned char *p = NULL;
	if (arg(m, k, &p))
		return -1;
	*v = 0;
	for (size_t i = 0; i < k; i++)
		*v |= (uint64_t)p[i] << (8 * i);
	return 0;
}

/* A length-prefixed byte string; the length is checked before use. */
static int counted(struct machine *m, size_t len_bytes, int type)
{
	uint64_t len;
	const unsigned char *p = NULL;
	if (arg_uint(m, len_bytes, &len))
		return -1;
	if (len_bytes == 4 && type == V_BYTES && m->buf[m->op_at] == 'T' &&
	    (len & 0x80000000u))
		return FAIL(m, "negative BINSTRING length");
	if (len > m->n - m->pos)
		return FAIL(m, "pickle truncated (a string of %llu bytes, %zu left)",
			    (unsigned long long)len, m->n - m->pos);
	if (arg(m, (size_t)len, &p))
		return -1;
	struct pv v = { .t = type };
	v.u.s.p = p;
	v.u.s.n = (size_t)len;
	return push(m, v);
}

static int memo_put(struct machine *m, uint64_t idx)
{
	struct pv *v = NULL;
	if (top(m, &v))
		return -1;
	/* The pickler numbers the memo 0, 1, 2, ...: an index beyond the puts
	 * so far is hostile, and refusing it bounds the memo's size. */
	if (idx > m->n_puts)
		return FAIL(m, "memo index %llu out of sequence", (unsigned long long)idx);
	if (spend(m))
		return -1;
	if (idx >= m->memo_n) {
		size_t cap = m->memo_n;
		if (buf_reserve((void **)&m->memo, &cap, idx + 1, sizeof *m->memo))
			return -1;
		unsigned char *set = realloc(m->memo_set, cap);
		if (!set)
			return hm_error("out of memory");
		memset(set + m->memo_n, 0, cap - m->memo_n);
		m->memo_set = set;
		m->memo_n = cap;
	}
	m->memo[idx] = *v;
	m->memo_set[idx] = 1;
	m->n_puts++;
	return 0;
}

static int memo_get(struct machine *m, uint64_t idx)
{
	if (idx >= m->memo_n || !m->memo_set[idx])
		return FAIL(m, "memo index %llu was never set", (unsigned long long)idx);
	return push(m, m->memo[idx]);
}

static int tuple_from(struct machine *m, size_t at)
{
	struct pv t;
	/* MARK TUPLE on an empty stack: stack is still NULL (NULL + 0 is UB). */
	const struct pv *items = m->sp > at ? m->stack + at : NULL;
	if (new_obj(m, V_TUPLE, &t) || obj_append(m, t.u.obj, items, m->sp - at))
		return -1;
	m->sp = at;
	return push(m, t);
}

static int global(struct machine *m, const char *mod, size_t n_mod,
		  const char *name, size_t n_name)
{
	struct pv v = { .t = V_NONE };
#define IS(s, n, lit) ((n) == sizeof(lit) - 1 && !memcmp((s), (lit), (n)))
	if (IS(mod, n_mod, "_codecs") && IS(name, n_name, "encode"))
		v.t = V_ENCODE;
	else if ((IS(mod, n_mod, "__builtin__") || IS(mod, n_mod, "builtins")) &&
		 IS(name, n_name, "bytes"))
		v.t = V_BYTES_TYPE;
	else
		return FAIL(m, "global '%.*s.%.*s' is not allowed (only _codecs.encode and "
			    "bytes appear in an insightface .bin)", (int)n_mod, mod,
			    (int)n_name, name);
#undef IS
	return push(m, v);
}

/* GLOBAL: "module\nname\n" as text. */
static int op_global(struct machine *m)
{
	const char *part[2];
	size_t len[2];
	for (int k = 0; k < 2; k++) {
		const unsigned char *s = m->buf + m->pos;
		size_t left = m->n - m->pos;
		const unsigned char *nl = memchr(s, '\n', left < MAX_GLOBAL ? left : MAX_GLOBAL);
		if (!nl)
			return FAIL(m, "bad GLOBAL argument");
		part[k] = (const char *)s;
		len[k] = (size_t)(nl - s);
		m->pos += len[k] + 1;
	}
	return global(m, part[0], len[0], part[1], len[1]);
}

/* _codecs.encode(s, 'latin1'): S is UTF-8 text whose code points are all
 * below 256 (str(bytes, 'latin1') pickled); back to the original bytes. */
static int latin1_bytes(struct machine *m, const struct pv *str, const struct pv *enc)
{
	if (str->t != V_STR || enc->t != V_STR)
		return FAIL(m, "_codecs.encode with arguments that are not strings");
	const char *e = (const char *)enc->u.s.p;
	size_t en = enc->u.s.n;
	if (!((en == 6 && !memcmp(e, "latin1", 6)) || (en == 7 && !memcmp(e, "latin-1", 7)) ||
	      (en == 10 && !memcmp(e, "iso-8859-1", 10))))
		return FAIL(m, "_codecs.encode to '%.*s' (only latin1 is expected)",
			    (int)(en < 32 ? en : 32), e);
	const unsigned char *s = str->u.s.p;
	size_t n = str->u.s.n;
	unsigned char *out = malloc(n ? n : 1);
	if (!out)
		return hm_error("out of memory");
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x80) {
			out[k++] = s[i];
		} else if ((s[i] == 0xc2 || s[i] == 0xc3) && i + 1 < n &&
			   (s[i + 1] & 0xc0) == 0x80) {
			out[k++] = (unsigned char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
			i++;
		} else {
			free(out);
			return FAIL(m, "string for _codecs.encode is not latin-1 text");
		}
	}
	if (buf_reserve((void **)&m->owned, &m->owncap, m->n_owned + 1, sizeof *m->owned)) {
		free(out);
		return -1;
	}
	m->owned[m->n_owned++] = out;
	struct pv v = { .t = V_BYTES };
	v.u.s.p = out;
	v.u.s.n = k;
	return push(m, v);
}

static int op_reduce(struct machine *m)
{
	struct pv args, fn;
	if (pop(m, &args) || pop(m, &fn))
		return -1;
	if (args.t != V_TUPLE)
		return FAIL(m, "REDUCE without an argument tuple");
	const struct pobj *a = &m->objs[args.u.obj];
	if (fn.t == V_ENCODE && a->n == 2)
		return latin1_bytes(m, &a->v[0], &a->v[1]);
	if (fn.t == V_BYTES_TYPE && a->n == 0) {
		struct pv v = { .t = V_BYTES };
		v.u.s.p = m->buf;	/* any valid pointer; zero bytes */
		v.u.s.n = 0;
		return push(m, v);
	}
	return FAIL(m, "REDUCE of something other than bytes (not an insightface .bin?)");
}

static int run(struct machine *m, struct pv *result)
{
	uint64_t x = 0;
	struct pv v = { 0 }, *t = NULL;
	size_t at = 0;
	if (m->n < 2 || m->buf[0] != 0x80)
		return FAIL(m, "not a pickle of protocol 2 or later (no PROTO opcode)");
	for (;;) {
		m->op_at = m->pos;
		if (m->pos >= m->n)
			return FAIL(m, "pickle truncated (no STOP opcode)");
		unsigned op = m->buf[m->pos++];
		int rc = 0;
		switch (op) {
		case 0x80:	/* PROTO */
			if (arg_uint(m, 1, &x))
				return -1;
			if (m->op_at != 0)
				return FAIL(m, "PROTO opcode in the middle of the pickle");
			if (x < 2 || x > 5)
				return FAIL(m, "pickle protocol %llu not supported (2 to 5)",
					    (unsigned long long)x);
			break;
		case 0x95:	/* FRAME: a length we need not use */
			rc = arg_uint(m, 8, &x);
			if (!rc && x > m->n - m->pos)
				return FAIL(m, "pickle truncated (a frame of %llu bytes, %zu "
					    "left)", (unsigned long long)x, m->n - m->pos);
			break;
		case '.':	/* STOP */
			if (m->n_marks || m->sp != 1)
				return FAIL(m, "STOP with %zu values and %zu marks on the stack",
					    m->sp, m->n_marks);
			*result = m->stack[0];
			return 0;
		case '(':	/* MARK */
			if (spend(m) || buf_reserve((void **)&m->marks, &m->mcap, m->n_marks + 1,
						sizeof *m->marks))
				return -1;
			m->marks[m->n_marks++] = m->sp;
			break;
		case ']':	/* EMPTY_LIST */
			rc = new_obj(m, V_LIST, &v) || push(m, v);
			break;
		case ')':	/* EMPTY_TUPLE */
			rc = new_obj(m, V_TUPLE, &v) || push(m, v);
			break;
		case 'a':	/* APPEND */
			if (pop(m, &v) || top(m, &t))
				return -1;
			if (t->t != V_LIST)
				return FAIL(m, "APPEND to something that is not a list");
			rc = obj_append(m, t->u.obj, &v, 1);
			break;
		case 'e':	/* APPENDS */
			if (pop_mark(m, &at))
				return -1;
			if (at <= fence(m) || m->stack[at - 1].t != V_LIST)
				return FAIL(m, "APPENDS without a list below the mark");
			rc = obj_append(m, m->stack[at - 1].u.obj, m->stack + at, m->sp - at);
			m->sp = at;
			break;
		case 't':	/* TUPLE */
			rc = pop_mark(m, &at) || tuple_from(m, at);
			break;
		case 0x85:	/* TUPLE1 */
		case 0x86:	/* TUPLE2 */
		case 0x87:	/* TUPLE3 */
			if (m->sp < fence(m) + (op - 0x84))
				return FAIL(m, "pickle stack underflow");
			rc = tuple_from(m, m->sp - (op - 0x84));
			break;
		case 'q':	/* BINPUT */
			rc = arg_uint(m, 1, &x) || memo_put(m, x);
			break;
		case 'r':	/* LONG_BINPUT */
			rc = arg_uint(m, 4, &x) || memo_put(m, x);
			break;
		case 0x94:	/* MEMOIZE */
			rc = memo_put(m, m->n_puts);
			break;
		case 'h':	/* BINGET */
			rc = arg_uint(m, 1, &x) || memo_get(m, x);
			break;
		case 'j':	/* LONG_BINGET */
			rc = arg_uint(m, 4, &x) || memo_get(m, x);
			break;
		case 'C':	/* SHORT_BINBYTES */
		case 'U':	/* SHORT_BINSTRING (Python 2 str) */
			rc = counted(m, 1, V_BYTES);
			break;
		case 'B':	/* BINBYTES */
		case 'T':	/* BINSTRING (Python 2 str) */
			rc = counted(m, 4, V_BYTES);
			break;
		case 0x8e:	/* BINBYTES8 */
		case 0x96:	/* BYTEARRAY8 */
			rc = counted(m, 8, V_BYTES);
			break;
		case 0x8c:	/* SHORT_BINUNICODE */
			rc = counted(m, 1, V_STR);
			break;
		case 'X':	/* BINUNICODE */
			rc = counted(m, 4, V_STR);
			break;
		case 0x8d:	/* BINUNICODE8 */
			rc = counted(m, 8, V_STR);
			break;
		case 0x88:	/* NEWTRUE */
		case 0x89:	/* NEWFALSE */
			v.t = V_INT;
			v.u.i = op == 0x88;
			rc = push(m, v);
			break;
		case 'K':	/* BININT1 */
		case 'M':	/* BININT2 */
		case 'J':	/* BININT */
			if (arg_uint(m, op == 'K' ? 1 : op == 'M' ? 2 : 4, &x))
				return -1;
			v.t = V_INT;
			v.u.i = op == 'J' ? (long long)(int32_t)(uint32_t)x : (long long)x;
			rc = push(m, v);
			break;
		case 'N':	/* NONE */
			v.t = V_NONE;
			rc = push(m, v);
			break;
		case 'c':	/* GLOBAL */
			rc = op_global(m);
			break;
		case 0x93: {	/* STACK_GLOBAL */
			struct pv mod, name;
			if (pop(m, &name) || pop(m, &mod))
				return -1;
			if (mod.t != V_STR || name.t != V_STR)
				return FAIL(m, "STACK_GLOBAL without two strings");
			rc = global(m, (const char *)mod.u.s.p, mod.u.s.n,
				    (const char *)name.u.s.p, name.u.s.n);
			break;
		}
		case 'R':	/* REDUCE */
			rc = op_reduce(m);
			break;
		default:
			if (op >= 0x20 && op < 0x7f)
				return FAIL(m, "pickle opcode '%c' not supported (not an "
					    "insightface .bin?)", op);
			return FAIL(m, "pickle opcode 0x%02x not supported (not an "
				    "insightface .bin?)", op);
		}
		if (rc)
			return -1;
	}
}

static void machine_free(struct machine *m)
{
	for (size_t i = 0; i < m->n_objs; i++)
		free(m->objs[i].v);
	free(m->objs);
	free(m->stack);
	free(m->marks);
	free(m->memo);
	free(m->memo_set);
}

struct owned {
	unsigned char **p;
	size_t n;
};

void pybin_free(struct pybin *pb)
{
	struct owned *o = pb->owned;
	if (o) {
		for (size_t i = 0; i < o->n; i++)
			free(o->p[i]);
		free(o->p);
		free(o);
	}
	free(pb->image);
	free(pb->n_image);
	free(pb->issame);
	memset(pb, 0, sizeof *pb);
}

/* Checks the shape (list of bytes, list of booleans) and copies it out. */
static int extract(struct machine *m, const struct pv *res, struct pybin *pb)
{
	if ((res->t != V_TUPLE && res->t != V_LIST) || m->objs[res->u.obj].n != 2)
		return hm_error_file(m->name, "the pickle is not a pair (images, issame_list)");
	const struct pv *two = m->objs[res->u.obj].v;
	if (two[0].t != V_LIST || two[1].t != V_LIST)
		return hm_error_file(m->name, "the pickle is not a pair of lists "
				     "(images, issame_list)");
	const struct pobj *img = &m->objs[two[0].u.obj], *same = &m->objs[two[1].u.obj];
	for (size_t i = 0; i < img->n; i++)
		if (img->v[i].t != V_BYTES)
			return hm_error_file(m->name, "image %zu is not a bytes object", i);
	for (size_t i = 0; i < same->n; i++)
		if (same->v[i].t != V_INT || (same->v[i].u.i != 0 && same->v[i].u.i != 1))
			return hm_error_file(m->name, "issame_list entry %zu is not a boolean", i);
	if (img->n != 2 * same->n)
		return hm_error_file(m->name, "%zu images for %zu pairs (expected two images "
				     "per pair)", img->n, same->n);
	pb->n_images = (long)img->n;
	pb->n_pairs = (long)same->n;
	pb->image = malloc((img->n ? img->n : 1) * sizeof *pb->image);
	pb->n_image = malloc((img->n ? img->n : 1) * sizeof *pb->n_image);
	pb->issame = malloc(same->n ? same->n : 1);
	if (!pb->image || !pb->n_image || !pb->issame)
		return hm_error("out of memory");
	for (size_t i = 0; i < img->n; i++) {
		pb->image[i] = img->v[i].u.s.p;
		pb->n_image[i] = img->v[i].u.s.n;
	}
	for (size_t i = 0; i < same->n; i++)
		pb->issame[i] = (unsigned char)same->v[i].u.i;
	return 0;
}

int pybin_parse(struct pybin *pb, const unsigned char *buf, size_t n,
		const char *name)
{
	memset(pb, 0, sizeof *pb);
	struct machine m = { .buf = buf, .n = n, .name = name ? name : "-",
			     .budget = MAX_VALUES };
	struct pv res = { 0 };
	int rc = run(&m, &res);
	if (!rc)
		rc = extract(&m, &res, pb);
	/* Decoded strings belong to the result whether or not it is used. */
	struct owned *o = calloc(1, sizeof *o);
	if (o) {
		o->p = m.owned;
		o->n = m.n_owned;
		pb->owned = o;
	} else {
		for (size_t i = 0; i < m.n_owned; i++)
			free(m.owned[i]);
		free(m.owned);
		rc = hm_error("out of memory");
	}
	machine_free(&m);
	if (rc)
		pybin_free(pb);
	return rc;
}
