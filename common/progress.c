#include "progress.h"
#include "err.h"

#include <stdio.h>
#include <time.h>

double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

void progress_init(struct progress *p, int enabled, const char *what, long total)
{
	p->enabled = enabled;
	p->what = what;
	p->total = total;
	p->start = p->last = now_seconds();
}

static void draw(struct progress *p, long done, double t, const char *end)
{
	double rate = t > p->start ? done / (t - p->start) : 0;
	fprintf(stderr, "\r%s: %ld", hm_progname(), done);
	if (p->total > 0)
		fprintf(stderr, "/%ld", p->total);
	fprintf(stderr, " %s  %.0f/s", p->what, rate);
	if (p->total > 0 && rate > 0 && done < p->total) {
		long eta = (long)((p->total - done) / rate);
		fprintf(stderr, "  ETA %ld:%02ld", eta / 60, eta % 60);
	}
	fprintf(stderr, "\033[K%s", end);
}

void progress_update(struct progress *p, long done)
{
	if (!p->enabled)
		return;
	double t = now_seconds();
	if (t - p->last < 0.2)
		return;
	p->last = t;
	draw(p, done, t, "");
}

void progress_done(struct progress *p, long done)
{
	if (p->enabled)
		draw(p, done, now_seconds(), "\n");
}
