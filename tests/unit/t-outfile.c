/* Outputs (atomic files; devices, FIFOs, sockets in place; links, modes,
 * owners kept) and the RNG. */
#include "tap.h"
#include "err.h"
#include "outfile.h"
#include "rng.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>

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

/* Scratch folder for one group of checks, made empty. */
static const char *scratch(const char *name)
{
	static char dir[512];
	snprintf(dir, sizeof dir, "%s", tmp_path(name));
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) || mkdir(dir, 0777))
		ok(0, "cannot make %s", dir);
	return dir;
}

static const char *in(const char *dir, const char *name)
{
	static char buf[16][600];
	static int next;
	char *p = buf[next++ % 16];
	snprintf(p, 600, "%s/%s", dir, name);
	return p;
}

/* FILE holds exactly TEXT. */
static int holds(const char *file, const char *text)
{
	char buf[64] = { 0 };
	FILE *fp = fopen(file, "rb");
	size_t n = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
	if (fp)
		fclose(fp);
	return fp && n == strlen(text) && !memcmp(buf, text, n);
}

static mode_t mode_of(const char *file)
{
	struct stat st;
	return stat(file, &st) ? 0 : st.st_mode & 07777;
}

static int is_link(const char *file)
{
	struct stat st;
	return lstat(file, &st) == 0 && S_ISLNK(st.st_mode);
}

static void test_modes(void)
{
	const char *d = scratch("modes");
	const char *f = in(d, "secret");
	mode_t old = umask(022);
	is_int(outfile_write_all(f, "new", 3), 0, "new file written");
	is_int(mode_of(f), 0644, "a new file gets 0666 less the umask");
	chmod(f, 0600);
	is_int(outfile_write_all(f, "again", 5), 0, "600 file replaced");
	ok(holds(f, "again"), "with the new content");
	is_int(mode_of(f), 0600, "and keeps mode 600");
	chmod(f, 0640);
	umask(077);
	is_int(outfile_write_all(f, "x", 1), 0, "640 file replaced under umask 077");
	is_int(mode_of(f), 0640, "keeps 640: the old mode, not the umask's");
	umask(old);
	is_int(count_tmp(d, "secret"), 0, "no temp file left");
	if (geteuid() != 0) {
		for (int i = 0; i < 2; i++)
			skip("the owner of a replaced file: needs root (chown to another user)");
		return;
	}
	if (chown(f, 1234, 5678))
		ok(0, "chown");
	is_int(outfile_write_all(f, "y", 1), 0, "root replaces a file of uid 1234");
	struct stat st;
	ok(stat(f, &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678 &&
	   (st.st_mode & 07777) == 0640, "which keeps its owner, group and mode");
}

static void test_links(void)
{
	const char *d = scratch("links");
	const char *target = in(d, "target"), *link = in(d, "link");
	FILE *fp = fopen(target, "w");
	fclose(fp);
	chmod(target, 0600);
	if (symlink("target", link))
		ok(0, "symlink");
	is_int(outfile_write_all(link, "through", 7), 0, "written through a link");
	ok(is_link(link), "the link stays a link");
	ok(holds(target, "through") && holds(link, "through"), "its target holds the output");
	is_int(mode_of(target), 0600, "the target keeps its mode");

	mkdir(in(d, "sub"), 0777);
	const char *dangling = in(d, "dangling");
	if (symlink("sub/made", dangling))
		ok(0, "symlink");
	is_int(outfile_write_all(dangling, "made", 4), 0, "a dangling link: written");
	ok(is_link(dangling) && holds(in(d, "sub/made"), "made"),
	   "the link stays, the file it names is created (relative to the link)");

	const char *chain = in(d, "chain");
	if (symlink("link", chain))
		ok(0, "symlink");
	is_int(outfile_write_all(chain, "chained", 7), 0, "a chain of two links");
	ok(is_link(chain) && is_link(link) && holds(target, "chained"), "ends at the target");
	is_int(count_tmp(d, "") + count_tmp(in(d, "sub"), ""), 0, "no temp files left");

	const char *loop = in(d, "loop");
	if (symlink("loop", loop))
		ok(0, "symlink");
	is_int(outfile_write_all(loop, "x", 1), -1, "a link to itself fails");
	like(hm_errmsg(), "Too many levels of symbolic links", "saying why");
	ok(is_link(loop), "and stays");

	outfile_remove(link);
	ok(is_link(link) && access(target, F_OK) != 0,
	   "outfile_remove through a link removes the target, not the link");
}

/* The old design's one merit, kept: an interrupted write never shows.  So
 * a file with a second name is replaced, and that name keeps the old. */
static void test_hard_link(void)
{
	const char *d = scratch("hard");
	const char *a = in(d, "a"), *b = in(d, "b");
	is_int(outfile_write_all(a, "old", 3), 0, "a file");
	if (link(a, b))
		ok(0, "link");
	is_int(outfile_write_all(a, "new", 3), 0, "replaced by one of its two names");
	ok(holds(a, "new") && holds(b, "old"), "the other name keeps the old content");
}

/* A reader on the other end of FIFO: returns its pid; it copies to COPY. */
static pid_t fifo_reader(const char *fifo, const char *copy)
{
	pid_t pid = fork();
	if (pid == 0) {
		char cmd[1300];
		snprintf(cmd, sizeof cmd, "exec cat '%s' >'%s'", fifo, copy);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void test_fifo_and_socket(void)
{
	const char *d = scratch("fifo");
	const char *fifo = in(d, "fifo"), *copy = in(d, "copy");
	if (mkfifo(fifo, 0600))
		ok(0, "mkfifo");
	pid_t pid = fifo_reader(fifo, copy);
	is_int(outfile_write_all(fifo, "piped", 5), 0, "written into a FIFO");
	int status = -1;
	waitpid(pid, &status, 0);
	ok(status == 0 && holds(copy, "piped"), "its reader got the output");
	struct stat st;
	ok(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO stays a FIFO");
	is_int(count_tmp(d, ""), 0, "no temp file");

	const char *sock = in(d, "sock");
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s", sock);
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) || listen(s, 1)) {
		ok(0, "a listening socket");
		return;
	}
	is_int(outfile_write_all(sock, "sent", 4), 0, "written to a socket");
	int c = accept(s, NULL, NULL);
	char buf[8] = { 0 };
	ok(c >= 0 && read(c, buf, sizeof buf) == 4 && !memcmp(buf, "sent", 4),
	   "its listener got the output");
	ok(lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode), "the socket stays");
	close(c);
	close(s);
}

/* /dev/fd/N names our own descriptor N, as in bash: written through it
 * (its offset, its O_APPEND), not through the file it has open. */
static void test_fd_names(void)
{
	const char *d = scratch("fd");
	const char *log = in(d, "log");
	int p[2];
	char name[64], buf[8] = { 0 };
	if (pipe(p)) {
		ok(0, "pipe");
		return;
	}
	snprintf(name, sizeof name, "/dev/fd/%d", p[1]);
	is_int(outfile_write_all(name, "fd", 2), 0, "written to /dev/fd/N, a pipe");
	ok(read(p[0], buf, sizeof buf) == 2 && !memcmp(buf, "fd", 2), "through that descriptor");
	close(p[0]);
	close(p[1]);
	is_int(outfile_write_all(log, "one,", 4), 0, "a log");
	int fd = open(log, O_WRONLY | O_APPEND);
	snprintf(name, sizeof name, "/proc/self/fd/%d", fd);
	is_int(outfile_write_all(name, "two", 3), 0, "written to /proc/self/fd/N open with O_APPEND");
	close(fd);
	ok(holds(log, "one,two"), "appended, as >> would, not replaced");
	is_int(outfile_write_all("/dev/fd/999", "x", 1), -1, "a descriptor not open fails");
	like(hm_errmsg(), "Bad file descriptor", "saying why");
}

/* Device nodes made here, never the real /dev: c 1 3 is null, c 1 7 full. */
static void test_devices(void)
{
	const char *d = scratch("dev");
	const char *nul = in(d, "null"), *full = in(d, "full");
	if (geteuid() != 0 || mknod(nul, S_IFCHR | 0666, makedev(1, 3)) ||
	    mknod(full, S_IFCHR | 0666, makedev(1, 7))) {
		for (int i = 0; i < 6; i++)
			skip("device nodes: mknod needs root");
		return;
	}
	is_int(outfile_write_all(nul, "gone", 4), 0, "written to a null device");
	struct stat st;
	ok(lstat(nul, &st) == 0 && S_ISCHR(st.st_mode), "which stays a character device");
	is_int(count_tmp(d, ""), 0, "no temp file beside it");
	is_int(outfile_write_all(full, "x", 1), -1, "a full device: the write fails");
	like(hm_errmsg(), "write error: No space left on device", "as the shell's > says");
	outfile_remove(nul);
	ok(lstat(nul, &st) == 0 && S_ISCHR(st.st_mode), "outfile_remove leaves a device");
}

static void test_not_files(void)
{
	const char *d = scratch("dirs");
	is_int(outfile_write_all(d, "x", 1), -1, "a directory is no output file");
	like(hm_errmsg(), "Is a directory", "saying so");
	const char *f = in(d, "file");
	is_int(outfile_write_all(f, "x", 1), 0, "a file");
	is_int(make_dirs(in(d, "file")), -1, "make_dirs where a file is fails");
	like(hm_errmsg(), "/file': cannot create directory: Not a directory",
	     "naming the file (hm-synth -o, hm-align --out-dir, hm-train -o)");
	const char *dlink = in(d, "dlink");
	if (symlink(".", dlink))
		ok(0, "symlink");
	is_int(make_dirs(dlink), 0, "make_dirs accepts a link to a directory");
}

/* Temps a killed run left lie beside a link's target, and go from there. */
static void test_stale_through_link(void)
{
	const char *d = scratch("stale");
	const char *stale = in(d, "target.tmp.999999999");
	FILE *fp = fopen(stale, "w");
	fclose(fp);
	if (symlink("target", in(d, "link")))
		ok(0, "symlink");
	outfile_remove_stale(in(d, "link"));
	ok(access(stale, F_OK) != 0, "outfile_remove_stale follows the link");
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
	test_modes();
	test_links();
	test_hard_link();
	test_fifo_and_socket();
	test_fd_names();
	test_devices();
	test_not_files();
	test_stale_through_link();
	test_rng();
	return done_testing();
}
