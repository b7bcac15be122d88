/* Atomic outputs and the RNG. */
#include "tap.h"
#include "err.h"
#include "outfile.h"
#include "rng.h"

#include <dirent.h>
#include <errno.h>

static int count_tmp(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;
	while (d && (e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix)) && strstr(e->d_name, ".tmp."))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void test_outfile(void)
{
	const char *path = tmp_path("out.bin");
	struct outfile o;
	unlink(path);
	is_int(outfile_open(&o, path), 0, "opened");
	fputs("half", o.fp);
	fflush(o.fp);
	ok(access(path, F_OK) != 0, "nothing at the final name before commit");
	outfile_abort(&o);
	ok(access(path, F_OK) != 0, "abort leaves nothing");
	is_int(count_tmp("tests/tmp", strrchr(path, '/') + 1), 0, "abort removes the temp file");

	is_int(outfile_write_all(path, "whole", 5), 0, "write_all");
	FILE *fp = fopen(path, "rb");
	char buf[8] = { 0 };
	ok(fp && fread(buf, 1, 8, fp) == 5 && !memcmp(buf, "whole", 5), "content committed");
	fclose(fp);
	is_int(outfile_write_all("tests/tmp/no/such/dir/x", "a", 1), -1,
	       "missing directory fails");
	like(hm_errmsg(), "cannot create", "message says why");
	const char *deep = tmp_path("d1/d2/d3");
	is_int(make_dirs(deep), 0, "make_dirs creates parents");
	is_int(make_dirs(deep), 0, "make_dirs accepts existing");
	unlink(path);
}

static void test_full_disk(void)
{
	struct outfile o;
	if (access("/dev/full", W_OK)) {
		ok(0, "/dev/full is needed to test a full disk");
		return;
	}
	/* Commit must report ENOSPC; stdout-like paths go through the same check. */
	is_int(outfile_open(&o, NULL), 0, "stdout outfile");
	FILE *saved = o.fp;
	o.fp = fopen("/dev/full", "wb");
	for (int i = 0; i < 10000; i++)
		fputs("0123456789", o.fp);
	is_int(outfile_commit(&o), -1, "full disk is reported at commit");
	like(hm_errmsg(), "No space left", "full disk message");
	(void)saved;
}

static void test_rng(void)
{
	struct rng a, b;
	rng_seed(&a, 42);
	rng_seed(&b, 42);
	int same = 1;
	for (int i = 0; i < 1000; i++)
		same &= rng_u64(&a) == rng_u64(&b);
	ok(same, "same seed, same sequence");
	rng_seed2(&a, 42, 1);
	rng_seed2(&b, 42, 2);
	ok(rng_u64(&a) != rng_u64(&b), "streams differ");
	long counts[7] = { 0 };
	double sum = 0, sq = 0;
	rng_seed(&a, 7);
	for (int i = 0; i < 70000; i++)
		counts[rng_below(&a, 7)]++;
	int flat = 1;
	for (int i = 0; i < 7; i++)
		flat &= counts[i] > 9500 && counts[i] < 10500;
	ok(flat, "rng_below(7) is uniform within 5%%");
	for (int i = 0; i < 100000; i++) {
		double x = rng_normal(&a);
		sum += x;
		sq += x * x;
	}
	is_near(sum / 1e5, 0.0, 0.02, "normal mean 0");
	is_near(sq / 1e5, 1.0, 0.02, "normal variance 1");
	int v[10] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, seen = 0;
	rng_shuffle(&a, v, 10);
	for (int i = 0; i < 10; i++)
		seen |= 1 << v[i];
	is_int(seen, 1023, "shuffle is a permutation");
}

int main(void)
{
	test_outfile();
	test_full_disk();
	test_rng();
	return done_testing();
}
