/*
 * fz-img: JPEG and PNM bytes through image_decode() (img.h), as every tool
 * that reads images does, asking for the file's own channels, then for grey
 * or RGB (picked by the input length's parity); then through
 * image_decode_region() (cropped, skipped and DCT-scaled JPEG decodes) with a
 * scale and rectangle picked from the length.
 *
 * Checks on success: 1 <= width, height <= REC_MAX_SIDE, the channels asked
 * for (or 1 or 3), the same size both times, and every pixel byte readable.
 * Region decodes: the window inside the scaled image, and at scale 1 the
 * same image size as image_decode() found.
 * On failure: a one-line message.
 */
#include "fz.h"
#include "img.h"
#include "rec.h"

static struct jpeg *fzimg_jpeg;

static void fzimg_check(const struct image *im, int channels)
{
	FZ_CHECK(im->width >= 1 && im->width <= REC_MAX_SIDE);
	FZ_CHECK(im->height >= 1 && im->height <= REC_MAX_SIDE);
	if (channels)
		FZ_CHECK(im->channels == channels);
	else
		FZ_CHECK(im->channels == 1 || im->channels == 3);
	size_t n = (size_t)im->width * im->height * im->channels;
	volatile unsigned char sink = im->data[0] ^ im->data[n - 1];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fzimg_jpeg)
		FZ_CHECK((fzimg_jpeg = jpeg_new()) != NULL);
	struct image a = { 0 }, b = { 0 };
	int ch = size % 2 ? 1 : 3;
	int ra = image_decode(fzimg_jpeg, data, size, 0, &a, "fuzz.img");
	if (ra < 0)
		fz_check_error();
	else
		fzimg_check(&a, 0);
	int rb = image_decode(fzimg_jpeg, data, size, ch, &b, "fuzz.img");
	if (rb < 0) {
		fz_check_error();
	} else {
		fzimg_check(&b, ch);
		if (ra == 0)
			FZ_CHECK(a.width == b.width && a.height == b.height);
	}
	struct image r = { 0 };
	struct image_window win;
	int denom = 1 << (size / 2 % 4);
	int rect[4] = { (int)(size * 7 % 97) - 16, (int)(size * 13 % 89) - 16, 0, 0 };
	rect[2] = rect[0] + (int)(size % 61);
	rect[3] = rect[1] + (int)(size * 3 % 53);
	int rr = image_decode_region(fzimg_jpeg, data, size, ch, denom, rect, &r, &win,
				     "fuzz.img");
	if (rr < 0) {
		fz_check_error();
	} else {
		fzimg_check(&r, ch);
		FZ_CHECK(win.x >= 0 && win.y >= 0 && win.x + r.width <= win.full_width &&
			 win.y + r.height <= win.full_height);
		FZ_CHECK(win.denom == 1 || win.denom == denom);
		if (rb == 0 && win.denom == 1)
			FZ_CHECK(win.full_width == b.width && win.full_height == b.height);
	}
	image_free(&r);
	image_free(&a);
	image_free(&b);
	return 0;
}
