/*
 * progress: one self-overwriting status line on stderr for long work:
 * "hm-align: 4200/7701 images  1850/s  ETA 0:02".  Inactive (every call a
 * no-op) unless enabled, see cli_want_progress().
 */
#ifndef HM_PROGRESS_H
#define HM_PROGRESS_H

struct progress {
	int enabled;
	const char *what;	/* unit name, e.g. "images" */
	long total;		/* 0 when unknown */
	double start, last;	/* seconds */
};

void progress_init(struct progress *p, int enabled, const char *what, long total);
/* Redraws at most 5 times a second. */
void progress_update(struct progress *p, long done);
/* Final line with the total count and rate, then a newline. */
void progress_done(struct progress *p, long done);
/* Monotonic seconds. */
double now_seconds(void);

#endif
