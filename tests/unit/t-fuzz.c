/*
 * The libFuzzer targets (fuzz/fz-*.c, make fuzz) in the normal build: every
 * committed seed (fuzz/corpus/NAME/) and every input that once broke a
 * parser (fuzz/regress/NAME/) runs through the same target code, whose
 * checks abort on a broken contract; under make SANITIZE=1 also on memory
 * errors and leaks.  Then the fixed bugs, each asserted directly.
 */
#define HM_FZ_REPLAY
#define FZ_TARGET(name) LLVMFuzzerTestOneInput_##name

#define LLVMFuzzerTestOneInput FZ_TARGET(rec)
#include "../../fuzz/fz-rec.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(recidx)
#include "../../fuzz/fz-recidx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(lmk)
#include "../../fuzz/fz-lmk.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(pairs)
#include "../../fuzz/fz-pairs.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(csv)
#include "../../fuzz/fz-csv.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(model)
#include "../../fuzz/fz-model.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(mxrec)
#include "../../fuzz/fz-mxrec.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(mxidx)
#include "../../fuzz/fz-mxidx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(pybin)
#include "../../fuzz/fz-pybin.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(img)
#include "../../fuzz/fz-img.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(embtab)
#include "../../fuzz/fz-embtab.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput FZ_TARGET(scores)
#include "../../fuzz/fz-scores.c"
#undef LLVMFuzzerTestOneInput

#include "tap.h"
#include "img.h"
#include "util.h"

#include <dirent.h>

static const struct {
	const char *name;
	int (*run)(const uint8_t *, size_t);
} targets[] = {
	{ "rec", FZ_TARGET(rec) },	{ "recidx", FZ_TARGET(recidx) },
	{ "lmk", FZ_TARGET(lmk) },	{ "pairs", FZ_TARGET(pairs) },
	{ "csv", FZ_TARGET(csv) },	{ "model", FZ_TARGET(model) },
	{ "mxrec", FZ_TARGET(mxrec) },	{ "mxidx", FZ_TARGET(mxidx) },
	{ "pybin", FZ_TARGET(pybin) },	{ "img", FZ_TARGET(img) },
	{ "embtab", FZ_TARGET(embtab) }, { "scores", FZ_TARGET(scores) },
};

/* Runs every file of DIR through RUN; returns how many (-1: no DIR). */
static long replay_dir(const char *dir, int (*run)(const uint8_t *, size_t))
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		unsigned char *buf;
		size_t len;
		if (file_read_all(path, &buf, &len)) {
			ok(0, "read %s: %s", path, hm_errmsg());
			continue;
		}
		run(buf, len);
		free(buf);
		n++;
	}
	closedir(d);
	return n;
}

/* The bytes of a committed regression input, or NULL. */
static unsigned char *regress(const char *target, const char *file, size_t *n)
{
	char path[512];
	unsigned char *buf;
	snprintf(path, sizeof path, "fuzz/regress/%s/%s", target, file);
	if (file_read_all(path, &buf, n)) {
		ok(0, "read %s: %s", path, hm_errmsg());
		return NULL;
	}
	return buf;
}

int main(void)
{
	for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
		char dir[256];
		snprintf(dir, sizeof dir, "fuzz/corpus/%s", targets[i].name);
		long seeds = replay_dir(dir, targets[i].run);
		snprintf(dir, sizeof dir, "fuzz/regress/%s", targets[i].name);
		long old = replay_dir(dir, targets[i].run);
		ok(seeds > 0, "%s: %ld seeds and %ld regression inputs pass the target's checks",
		   targets[i].name, seeds, old < 0 ? 0 : old);
	}

	/* Messages stay one line whatever the input holds. */
	hm_error_file("a\nb.txt", "key '%s'", "x\r\ny\tz\x7f");
	is_str(hm_errmsg(), "'a?b.txt': key 'x??y\tz?'", "control bytes in a message become '?'");

	/* lmk: a BOM on line 1 hid its '\n' from the line-end strip. */
	size_t n;
	unsigned char *buf = regress("lmk", "bom-plain", &n);
	if (buf) {
		const char *path = tmp_path("bom.txt");
		FILE *fp = fopen(path, "wb");
		fwrite(buf + 1, 1, n - 1, fp);
		fclose(fp);
		struct lmk_list list;
		is_int(lmk_load(&list, path, LMK_AUTO), 0, "lmk: a BOM before a plain line: loads");
		is_int(list.n, 1, "lmk: a BOM before a plain line: one entry");
		if (list.n == 1) {
			is_str(list.e[0].path, "a.jpg", "lmk: a BOM before a plain line: path");
			is_near(list.e[0].pt[4][1], 10.0, 0, "lmk: a BOM before a plain line: last value");
		}
		lmk_list_free(&list);
		remove(path);
		free(buf);
	}
	/* mxrec: a 16-byte file announcing a 64 MiB record made the reader
	 * allocate all of it before finding the file short. */
	buf = regress("mxrec", "huge-length", &n);
	if (buf) {
		FILE *fp = fmemopen(buf, n, "rb");
		struct mxrec_reader r;
		const unsigned char *rec;
		size_t len;
		mxrec_reader_init(&r, fp, "huge.rec");
		is_int(mxrec_read(&r, &rec, &len, NULL), -1, "mxrec: huge length, short file: error");
		like(hm_errmsg(), "'huge.rec': record 0: truncated", "mxrec: huge length: message");
		ok(r.cap <= (2u << 20), "mxrec: huge length: buffer stays small (%zu bytes)", r.cap);
		mxrec_reader_release(&r);
		fclose(fp);
		free(buf);
	}
	/* pybin: MARK TUPLE before anything was pushed built the tuple from
	 * NULL + 0 (UBSan: applying zero offset to null pointer). */
	buf = regress("pybin", "mark-tuple-empty-stack", &n);
	if (buf) {
		struct pybin pb;
		is_int(pybin_parse(&pb, buf, n, "t.bin"), -1, "pybin: MARK TUPLE on an empty stack: error");
		is_str(hm_errmsg(), "'t.bin': the pickle is not a pair (images, issame_list)",
		       "pybin: MARK TUPLE on an empty stack: message");
		pybin_free(&pb);
		free(buf);
	}
	return done_testing();
}
