/*
 * fz-pybin: insightface verification sets (.bin pickles) through
 * pybin_parse() (pybin.h).
 *
 * Checks on success: two images per flag, flags 0 or 1, every image's bytes
 * readable.  On failure: a one-line message.  pybin_free() must release
 * everything either way (the leak checker sees it).
 */
#include "fz.h"
#include "pybin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pybin pb;
	memset(&pb, 0, sizeof pb);
	if (pybin_parse(&pb, data, size, "fuzz.bin") < 0) {
		fz_check_error();
	} else {
		FZ_CHECK(pb.n_pairs >= 0 && pb.n_images == 2 * pb.n_pairs);
		volatile unsigned char sink = 0;
		for (long i = 0; i < pb.n_pairs; i++)
			FZ_CHECK(pb.issame[i] == 0 || pb.issame[i] == 1);
		for (long i = 0; i < pb.n_images; i++)
			if (pb.n_image[i])
				sink ^= pb.image[i][0] ^ pb.image[i][pb.n_image[i] - 1];
		(void)sink;
	}
	pybin_free(&pb);
	return 0;
}
