/* hm-pack: build training packs (.hmr + .hmi); list, verify, index them. */
#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "pack.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"Usage: hm-pack [options] -o OUT.hmr [INPUT]\n"
	"       hm-pack --list | --verify | --stats [FILE]\n"
	"       hm-pack --index FILE.hmr\n"
	"Build a training pack OUT.hmr with its index OUT.hmi from INPUT: a record\n"
	"stream ('-' or a .hmr file; the default is standard input), a directory\n"
	"tree ROOT/ID/file.jpg, a CSV list 'path,label', an MXNet RecordIO .rec file\n"
	"(its .idx beside it) or an insightface .bin verification set.\n"
	"\n"
	"  -o, --output FILE    the pack to write; FILE.hmi is written beside it, and\n"
	"                       FILE.labels.csv for a tree, FILE.pairs.csv for a .bin\n"
	"      --from KIND      stream, tree, csv, rec or bin (default: detected)\n"
	"      --encoding ENC   keep (default), jpeg or raw\n"
	"      --quality N      JPEG quality 1..100 (default 95); also re-encodes JPEG\n"
	"                       inputs, and implies --encoding jpeg if none is given\n"
	"      --gray           store one grey channel (re-encodes JPEG inputs)\n"
	"      --shuffle        write the records in a random order\n"
	"      --seed N         seed of that order (default 0)\n"
	"  -j, --threads N      decode/encode threads (default $HM_THREADS or all cores)\n"
	"      --progress       show progress even when stderr is not a terminal\n"
	"  -q, --quiet          no progress\n"
	"      --list           print FILE's records: key, label, kind, size, encoding,\n"
	"                       bytes (tab separated)\n"
	"      --verify         check every record of FILE, its end and its index\n"
	"      --index          rebuild FILE.hmi from FILE\n"
	"      --stats          count records, identities and images per identity\n"
	"  -h, --help           show this help\n"
	"      --version        show the version\n";

enum { OPT_FROM = 256, OPT_ENCODING, OPT_QUALITY, OPT_GRAY, OPT_SHUFFLE, OPT_SEED,
       OPT_LIST, OPT_VERIFY, OPT_INDEX, OPT_STATS };

enum mode { MODE_BUILD, MODE_LIST, MODE_VERIFY, MODE_INDEX, MODE_STATS };

struct cmdline {
	enum mode mode;
	int n_modes;
	const char *output;
	const char *input;
	struct pack_options opt;
	int encoding_set, quality_set, seed_set, build_only;
	int progress, quiet;
};

static void set_mode(struct cmdline *c, enum mode m)
{
	if (c->n_modes++ && c->mode != m)
		die_usage("--list, --verify, --index and --stats are exclusive");
	c->mode = m;
}

static void parse_args(struct cmdline *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "encoding", required_argument, NULL, OPT_ENCODING },
		{ "quality", required_argument, NULL, OPT_QUALITY },
		{ "gray", no_argument, NULL, OPT_GRAY },
		{ "grey", no_argument, NULL, OPT_GRAY },
		{ "shuffle", no_argument, NULL, OPT_SHUFFLE },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "list", no_argument, NULL, OPT_LIST },
		{ "verify", no_argument, NULL, OPT_VERIFY },
		{ "index", no_argument, NULL, OPT_INDEX },
		{ "stats", no_argument, NULL, OPT_STATS },
		{ NULL, 0, NULL, 0 }
	};
	struct cli p = { .usage = usage_text, .longs = longopts, .shorts = "o:",
			 .common = CLI_THREADS | CLI_PROGRESS };
	int ch, v;
	memset(c, 0, sizeof *c);
	c->opt.quality = PACK_DEFAULT_QUALITY;
	while ((ch = cli_next(&p, argc, argv)) != -1) {
		switch (ch) {
		case 'o':
			c->output = optarg;
			break;
		case OPT_FROM:
			if ((v = pack_from_parse(optarg)) < 0)
				die_usage("--from: unknown input kind '%s' (stream, tree, csv, "
					  "rec, bin)", optarg);
			c->opt.from = v;
			c->build_only = 1;
			break;
		case OPT_ENCODING:
			if ((v = pack_encoding_parse(optarg)) < 0)
				die_usage("--encoding: '%s' is not keep, jpeg or raw", optarg);
			c->opt.encoding = v;
			c->encoding_set = c->build_only = 1;
			break;
		case OPT_QUALITY:
			c->opt.quality = (int)cli_long("--quality", optarg, 1, 100);
			c->quality_set = c->build_only = 1;
			break;
		case OPT_GRAY:
			c->opt.gray = c->build_only = 1;
			break;
		case OPT_SHUFFLE:
			c->opt.shuffle = c->build_only = 1;
			break;
		case OPT_SEED:
			c->opt.seed = (uint64_t)cli_long("--seed", optarg, 0, LONG_MAX);
			c->seed_set = c->build_only = 1;
			break;
		case OPT_LIST:
			set_mode(c, MODE_LIST);
			break;
		case OPT_VERIFY:
			set_mode(c, MODE_VERIFY);
			break;
		case OPT_INDEX:
			set_mode(c, MODE_INDEX);
			break;
		case OPT_STATS:
			set_mode(c, MODE_STATS);
			break;
		}
	}
	if (argc - optind > 1)
		die_usage("one input at most (got %d)", argc - optind);
	c->input = optind < argc ? argv[optind] : "-";
	c->opt.threads = cli_threads(p.threads);
	c->progress = p.progress;
	c->quiet = p.quiet;
	if (c->mode != MODE_BUILD) {
		if (c->output)
			die_usage("-o builds a pack; it does not go with --list, --verify, "
				  "--index or --stats");
		if (c->build_only)
			die_usage("--from, --encoding, --quality, --gray, --shuffle and --seed "
				  "apply only when building a pack");
		if (c->mode == MODE_INDEX && !strcmp(c->input, "-"))
			die_usage("--index needs a file name (the index is written beside it)");
		return;
	}
	if (!c->output)
		die_usage("no output: name the pack with -o FILE.hmr");
	if (!strcmp(c->output, "-"))
		die_usage("-o needs a file name (the index is written beside it)");
	if (c->seed_set && !c->opt.shuffle)
		die_usage("--seed without --shuffle");
	if (c->quality_set && c->encoding_set && c->opt.encoding == PACK_RAW)
		die_usage("--quality with --encoding raw");
	if (c->quality_set) {
		c->opt.requality = 1;
		if (!c->encoding_set)
			c->opt.encoding = PACK_JPEG;
	}
}

int main(int argc, char **argv)
{
	struct cmdline c;
	struct progress prog;
	long n;
	hm_set_progname(argv[0]);
	parse_args(&c, argc, argv);
	outfile_cleanup_on_signals();	/* --index writes a file too */
	switch (c.mode) {
	case MODE_LIST:
		if (pack_list(stdout, c.input)) {
			outfile_quiet_on_epipe(errno);	/* a reader gone (head) */
			die("%s", hm_errmsg());
		}
		cli_close_stdout();
		return 0;
	case MODE_VERIFY:
		if (pack_verify(c.input, &n))
			die("%s", hm_errmsg());
		printf("%s: %ld records ok\n", c.input, n);
		cli_close_stdout();
		return 0;
	case MODE_INDEX:
		if (pack_reindex(c.input))
			die("%s", hm_errmsg());
		return 0;
	case MODE_STATS:
		if (pack_stats(stdout, c.input)) {
			outfile_quiet_on_epipe(errno);
			die("%s", hm_errmsg());
		}
		cli_close_stdout();
		return 0;
	case MODE_BUILD:
		break;
	}
	progress_init(&prog, cli_want_progress(c.progress, c.quiet), "records", 0);
	c.opt.progress = &prog;
	if (pack_build(c.input, c.output, &c.opt, NULL)) {
		if (prog.enabled && prog.last > prog.start)
			fputc('\n', stderr);	/* end the progress line first */
		die("%s", hm_errmsg());
	}
	return 0;
}
