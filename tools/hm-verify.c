/* hm-verify: embeddings + pair list -> cosine scores CSV.  See hm-verify(1). */
#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "pairs.h"
#include "scores.h"
#include "verify.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: hm-verify [options] PAIRS [EMBEDDINGS]\n"
	"Scores each pair of the list PAIRS by the cosine similarity of its two\n"
	"embeddings, read as records from EMBEDDINGS (default: stdin), and writes\n"
	"the CSV fold,same,score,a,b to stdout.\n"
	"\n"
	"  --format FMT         pair list format: auto, lfw, ytf, arcface or csv\n"
	"                       (auto)\n"
	"  --videos             keys name videos: a key's embedding is the\n"
	"                       normalised mean of every record under KEY/\n"
	"                       (always so for ytf lists)\n"
	"  -o, --output FILE    write the scores to FILE instead of stdout\n"
	"  -h, --help           this text\n"
	"      --version        the suite version\n";

struct cmdline {
	const char *pairs;
	const char *embeddings;
	const char *output;
	enum pairs_format format;
	int videos;
};

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	enum { OPT_FORMAT = 256, OPT_VIDEOS };
	static const struct option opts[] = {
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "videos", no_argument, NULL, OPT_VIDEOS },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli p = { .usage = usage_text, .shorts = "o:", .longs = opts };
	int opt;
	*c = (struct cmdline){ .embeddings = "-", .output = "-", .format = PAIRS_AUTO };
	while ((opt = cli_next(&p, argc, argv)) != -1) {
		switch (opt) {
		case OPT_FORMAT: {
			int f = pairs_format_parse(optarg);
			if (f < 0)
				die_usage("--format: '%s' is not auto, lfw, ytf, arcface or csv",
					  optarg);
			c->format = (enum pairs_format)f;
			break;
		}
		case OPT_VIDEOS:
			c->videos = 1;
			break;
		case 'o':
			c->output = optarg;
			break;
		}
	}
	int n = argc - optind;
	if (n < 1 || n > 2)
		die_usage(n < 1 ? "no pair list given" : "too many arguments");
	c->pairs = argv[optind];
	if (n == 2)
		c->embeddings = argv[optind + 1];
	if (!strcmp(c->pairs, "-") && !strcmp(c->embeddings, "-"))
		die_usage("the pair list and the embeddings cannot both be stdin");
}

int main(int argc, char **argv)
{
	struct cmdline c;
	hm_set_progname(argv[0]);
	parse_args(&c, argc, argv);
	outfile_cleanup_on_signals();

	struct pair_list pairs;
	if (pairs_load(&pairs, c.pairs, c.format))
		die("%s", hm_errmsg());
	struct verify v;
	if (verify_init(&v, &pairs, c.videos || pairs.format == PAIRS_YTF))
		die("%s", hm_errmsg());
	FILE *in = cli_open_input(c.embeddings);
	if (verify_read(&v, in, c.embeddings))
		die("%s", hm_errmsg());
	if (in != stdin)
		fclose(in);
	double *score = xmalloc((size_t)pairs.n * sizeof *score);
	if (verify_scores(&v, &pairs, c.pairs, c.embeddings, score)) {
		free(score);	/* LeakSanitizer may not see it from die() */
		die("%s", hm_errmsg());
	}

	/* Every check passed: only now does output start. */
	int rc = scores_write(c.output, &pairs, score);
	if (rc)
		outfile_quiet_on_epipe(errno);	/* a reader gone (head) */
	free(score);
	verify_release(&v);
	pair_list_free(&pairs);
	if (rc)
		die("%s", hm_errmsg());
	return 0;
}
