/*
 * pybin: reading insightface verification sets (lfw.bin, cfp_fp.bin,
 * agedb_30.bin, ...): a Python pickle of the pair
 *     (bins, issame_list)
 * where bins is a list of encoded images (JPEG or PNG bytes) and issame_list
 * a list of booleans, one per pair of consecutive images (2i, 2i+1).
 * insightface writes it with pickle.dump((bins, issame_list), f,
 * protocol=pickle.HIGHEST_PROTOCOL).
 *
 * This is not a general unpickler: it runs the pickle machine for exactly
 * the opcodes that such a file contains and rejects everything else with a
 * message naming the byte offset and the opcode.  Accepted:
 *   - protocols 2 to 5 (a PROTO opcode first), FRAME;
 *   - bytes as SHORT_BINBYTES, BINBYTES, BINBYTES8 (protocol 3+), as
 *     _codecs.encode(str, 'latin1') and __builtin__.bytes() (how protocol 2
 *     writes Python 3 bytes), as SHORT_BINSTRING/BINSTRING (Python 2 str,
 *     the original insightface files), BYTEARRAY8;
 *   - lists (EMPTY_LIST, APPEND, APPENDS), tuples (EMPTY_TUPLE, TUPLE,
 *     TUPLE1..3), MARK, the memo (PUT/GET/MEMOIZE in their binary forms),
 *     NEWTRUE/NEWFALSE, BININT/BININT1/BININT2 (0 or 1 as booleans), NONE,
 *     BINUNICODE forms (only as arguments of _codecs.encode), STOP.
 * Every length is checked against the bytes that remain before anything is
 * read or allocated, and nothing recurses, so hostile input gives an error,
 * never a crash; memory stays within a small multiple of the input size.
 *
 * Ownership: the images point into the caller's buffer BUF (keep it alive
 * until pybin_free()) or, for protocol-2 bytes that had to be decoded, into
 * memory the struct owns.  Free with pybin_free().
 */
#ifndef HM_PYBIN_H
#define HM_PYBIN_H

#include <stddef.h>

struct pybin {
	long n_images;
	const unsigned char **image;	/* n_images pointers */
	size_t *n_image;		/* their sizes */
	long n_pairs;			/* = n_images / 2 */
	unsigned char *issame;		/* n_pairs flags, 1 = same identity */
	/* private */
	void *owned;
};

/*
 * Parses the N bytes at BUF.  Returns 0, or -1 with "'NAME': byte K: ..."
 * recorded.  It is an error unless there are exactly two images per flag.
 */
int pybin_parse(struct pybin *pb, const unsigned char *buf, size_t n,
		const char *name);
void pybin_free(struct pybin *pb);

#endif
