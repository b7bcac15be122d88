/*
 * packkind: what a path holds, as the pack readers see it: the input kinds
 * hm-pack imports and how they are told apart, the names of a pack's side
 * files (OUT.hmi, OUT.labels.csv, OUT.pairs.csv), and what a tool that
 * reads packs says when given something else.  For pack.c (the build),
 * packsrc.c (its readers), packinfo.c, data.c (the loader) and train.c,
 * which need these without the build.
 */
#ifndef HM_PACKKIND_H
#define HM_PACKKIND_H

enum pack_from { PACK_AUTO, PACK_STREAM, PACK_TREE, PACK_CSV, PACK_REC, PACK_BIN };

/* "auto" "stream" "tree" "csv" "rec" "bin" <-> enum; parse gives -1 if unknown. */
int pack_from_parse(const char *name);
const char *pack_from_name(enum pack_from from);

/*
 * The kind of INPUT: "-" is a stream; a directory a tree; a file by its
 * first bytes (hm stream, RecordIO magic, pickle PROTO 2..5), else by its
 * extension (.hmr .rec .bin .csv).  0, or -1 when it cannot tell.
 */
int pack_detect(const char *input, enum pack_from *from);

/*
 * What a tool that reads packs says when handed something else.  When PATH
 * is a directory (an image tree, or an insightface bundle holding
 * train.rec), an MXNet RecordIO file, an insightface .bin, a landmark list
 * (lmk.h) or a CSV image list, records an error that names the kind and
 * the command that makes a pack of it, and returns -1:
 *   'train.rec': an MXNet RecordIO file (insightface's train.rec), not an
 *   hm pack; make one with: hm-pack -o train.hmr train.rec
 * USE words it: PACK_USE_TRAIN (a .bin has no identities: it cannot
 * train), PACK_USE_EVAL, PACK_USE_INDEX (hm-pack --index).  Returns 0 for
 * a record stream, a file named .hmr, a file shorter than 4 bytes, a
 * missing file and anything it does not recognise: the caller's own
 * checks then report.
 */
enum pack_use { PACK_USE_TRAIN, PACK_USE_EVAL, PACK_USE_INDEX };
int pack_check_is_pack(const char *path, enum pack_use use);

/* OUT with a ".hmr" suffix replaced by SUFFIX (".hmi", ".labels.csv"),
 * or SUFFIX appended.  Caller frees; NULL when out of memory. */
char *pack_side_path(const char *out, const char *suffix);

#endif
