/* packkind: input kinds, side-file names, "not a pack" messages (packkind.h). */
#include "packkind.h"
#include "err.h"
#include "lmk.h"
#include "mxrec.h"
#include "rec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *from_names[] = { "auto", "stream", "tree", "csv", "rec", "bin" };

int pack_from_parse(const char *name)
{
	for (int i = 0; i < (int)(sizeof from_names / sizeof *from_names); i++)
		if (!strcmp(name, from_names[i]))
			return i;
	return -1;
}

const char *pack_from_name(enum pack_from from)
{
	return (unsigned)from < sizeof from_names / sizeof *from_names ? from_names[from] : "?";
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !strcasecmp(s + n - k, suffix);
}

char *pack_side_path(const char *out, const char *suffix)
{
	size_t n = strlen(out);
	if (n > 4 && !strcmp(out + n - 4, ".hmr"))
		n -= 4;
	char *p = malloc(n + strlen(suffix) + 1);
	if (!p)
		return NULL;
	memcpy(p, out, n);
	strcpy(p + n, suffix);
	return p;
}

/* The pack a command should write for INPUT: its last path element,
 * extension dropped, + ".hmr" ("a/train.rec" -> "train.hmr"). */
static void pack_name_for(char *out, size_t n, const char *input)
{
	char buf[PATH_MAX];
	snprintf(buf, sizeof buf, "%s", input);
	size_t len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = 0;
	const char *base = strrchr(buf, '/');
	base = base && base[1] ? base + 1 : buf;
	char stem[256];
	snprintf(stem, sizeof stem, "%s", base);
	char *dot = strrchr(stem, '.');
	if (dot && dot != stem)
		*dot = 0;
	if (!stem[0] || !strcmp(stem, ".") || !strcmp(stem, ".."))
		snprintf(stem, sizeof stem, "data");
	snprintf(out, n, "%s.hmr", stem);
}

int pack_check_is_pack(const char *path, enum pack_use use)
{
	struct stat st;
	char out[300];
	const char *not_a = use == PACK_USE_TRAIN ? "not a training pack" : "not an hm pack";
	if (!strcmp(path, "-") || stat(path, &st))
		return 0;
	pack_name_for(out, sizeof out, path);
	if (S_ISDIR(st.st_mode)) {
		size_t n = strlen(path) + 16;
		char *rec = malloc(n);
		if (!rec)
			return hm_error("out of memory");
		snprintf(rec, n, "%s%strain.rec", path,
			 path[strlen(path) - 1] == '/' ? "" : "/");
		int bundle = access(rec, F_OK) == 0;
		if (bundle)
			hm_error_file(path, "an insightface bundle (a directory holding "
				      "train.rec), %s; make one with: hm-pack -o %s %s",
				      not_a, out, rec);
		else
			hm_error_file(path, "a directory, %s; make one of its ID/IMAGE "
				      "tree with: hm-pack -o %s %s", not_a, out, path);
		free(rec);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || has_suffix(path, ".hmr"))
		return 0;
	unsigned char b[8] = { 0 };
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return 0;
	size_t got = fread(b, 1, sizeof b, fp);
	fclose(fp);
	if (got < 4 || !memcmp(b, "HMR\x1a", 4))
		return 0;
	if (got >= 8 && (get_u32(b) == MXREC_MAGIC || get_u32(b) == MXREC_MAGIC_OLD))
		return hm_error_file(path, "an MXNet RecordIO file (as insightface's "
				     "train.rec), %s; make one with: hm-pack -o %s %s",
				     not_a, out, path);
	if (b[0] == 0x80 && b[1] >= 2 && b[1] <= 5) {
		if (use == PACK_USE_TRAIN)
			return hm_error_file(path, "an insightface .bin verification set "
					     "(image pairs, no identities): it cannot train; "
					     "give it to --val, or make a pack of it with: "
					     "hm-pack -o %s %s", out, path);
		return hm_error_file(path, "an insightface .bin verification set, %s; "
				     "make one with: hm-pack -o %s %s", not_a, out, path);
	}
	struct lmk_list lm;
	if (lmk_load(&lm, path, LMK_AUTO) == 0) {
		long n = lm.n;
		lmk_list_free(&lm);
		return hm_error_file(path, "a landmark list (%ld face%s), %s; align "
				     "and pack it with: hm-align --root IMAGES %s | hm-pack "
				     "-o %s -", n, n == 1 ? "" : "s", not_a, path, out);
	}
	if (has_suffix(path, ".csv"))
		return hm_error_file(path, "a CSV image list, %s; make one with: "
				     "hm-pack -o %s %s", not_a, out, path);
	return 0;
}

int pack_detect(const char *input, enum pack_from *from)
{
	if (!strcmp(input, "-")) {
		*from = PACK_STREAM;
		return 0;
	}
	struct stat st;
	if (stat(input, &st))
		return hm_error_file(input, "cannot open: %s", strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		*from = PACK_TREE;
		return 0;
	}
	unsigned char b[8] = { 0 };
	FILE *fp = fopen(input, "rb");
	if (!fp)
		return hm_error_file(input, "cannot open: %s", strerror(errno));
	size_t got = fread(b, 1, sizeof b, fp);
	fclose(fp);
	if (got >= 4 && !memcmp(b, "HMR\x1a", 4))
		*from = PACK_STREAM;
	else if (got >= 8 && (get_u32(b) == MXREC_MAGIC || get_u32(b) == MXREC_MAGIC_OLD))
		*from = PACK_REC;
	else if (got >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5)
		*from = PACK_BIN;
	else if (has_suffix(input, ".hmr"))
		*from = PACK_STREAM;
	else if (has_suffix(input, ".rec"))
		*from = PACK_REC;
	else if (has_suffix(input, ".bin"))
		*from = PACK_BIN;
	else if (has_suffix(input, ".csv"))
		*from = PACK_CSV;
	else
		return hm_error_file(input, "cannot tell what kind of input this is (not a "
				     "record stream, RecordIO file, pickle, .csv or directory); "
				     "name it with --from");
	return 0;
}
