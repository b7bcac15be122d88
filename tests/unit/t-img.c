/* Images: PNM and JPEG round trips, colour conversion, every decode error. */
#include "tap.h"
#include "err.h"
#include "img.h"

#include <turbojpeg.h>

static void fill(struct image *im)
{
	for (int y = 0; y < im->height; y++)
		for (int x = 0; x < im->width; x++)
			for (int c = 0; c < im->channels; c++)
				im->data[(y * im->width + x) * im->channels + c] =
					(unsigned char)(x * 2 + y + c * 30);
}

static double mean_abs_diff(const struct image *a, const struct image *b)
{
	size_t n = (size_t)a->width * a->height * a->channels;
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += abs(a->data[i] - b->data[i]);
	return s / n;
}

static void test_pnm(struct jpeg *j)
{
	struct image rgb, back, grey;
	image_alloc(&rgb, 17, 9, 3);
	fill(&rgb);
	const char *p6 = tmp_path("a.ppm");
	is_int(image_save_pnm(&rgb, p6), 0, "P6 written");
	is_int(image_load(j, p6, 0, &back), 0, "P6 read");
	ok(back.width == 17 && back.height == 9 && back.channels == 3 &&
	   !memcmp(back.data, rgb.data, 17 * 9 * 3), "P6 round trip is exact");
	image_free(&back);
	is_int(image_load(j, p6, 1, &grey), 0, "P6 read as grey");
	unsigned char *px = rgb.data + (4 * 17 + 5) * 3;
	int want = (int)(0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2] + 0.5);
	ok(abs(grey.data[4 * 17 + 5] - want) <= 1, "grey is BT.601 luma");
	const char *p5 = tmp_path("a.pgm");
	is_int(image_save_pnm(&grey, p5), 0, "P5 written");
	is_int(image_load(j, p5, 3, &back), 0, "P5 read as RGB");
	ok(back.channels == 3 && back.data[0] == grey.data[0] &&
	   back.data[2] == grey.data[0], "grey expands to three equal channels");
	image_free(&back);
	image_free(&grey);
	image_free(&rgb);
	unlink(p5);
	unlink(p6);
}

static void test_jpeg(struct jpeg *j)
{
	struct image rgb, back;
	unsigned char *buf;
	size_t n;
	image_alloc(&rgb, 64, 48, 3);
	fill(&rgb);
	is_int(image_encode_jpeg(j, &rgb, 95, &buf, &n), 0, "JPEG encoded");
	is_int(image_decode(j, buf, n, 0, &back, "mem.jpg"), 0, "JPEG decoded");
	ok(back.width == 64 && back.height == 48 && back.channels == 3,
	   "JPEG keeps size and channels");
	ok(mean_abs_diff(&rgb, &back) < 3.0, "JPEG q95 within 3 grey levels (%.2f)",
	   mean_abs_diff(&rgb, &back));
	image_free(&back);
	is_int(image_decode(j, buf, n - n / 4, 0, &back, "cut.jpg"), 0,
	       "truncated JPEG decodes what it has (libjpeg warning, not fatal)");
	image_free(&back);
	is_int(image_decode(j, buf, 40, 0, &back, "cut.jpg"), -1,
	       "JPEG cut inside its header fails");
	like(hm_errmsg(), "'cut.jpg': bad JPEG", "message names the file");
	free(buf);

	/* CMYK JPEGs (TurboJPEG writes them as YCCK) are refused by name. */
	tjhandle tj = tjInitCompress();
	unsigned char *cmyk = calloc(16 * 16 * 4, 1), *jb = NULL;
	unsigned long jn = 0;
	tjCompress2(tj, cmyk, 16, 0, 16, TJPF_CMYK, &jb, &jn, TJSAMP_444, 90, 0);
	is_int(image_decode(j, jb, jn, 0, &back, "cmyk.jpg"), -1, "CMYK JPEG refused");
	like(hm_errmsg(), "CMYK", "CMYK message");
	tjFree(jb);
	tjDestroy(tj);
	free(cmyk);
	image_free(&rgb);
}

static void test_errors(struct jpeg *j)
{
	struct image im;
	const unsigned char text[] = "hello, world";
	is_int(image_decode(j, text, sizeof text, 0, &im, "t.jpg"), -1, "text refused");
	like(hm_errmsg(), "'t.jpg': not a JPEG or PNM", "text message");
	is_int(image_decode(j, text, 0, 0, &im, "e.jpg"), -1, "empty refused");
	like(hm_errmsg(), "empty", "empty message");
	const unsigned char p16[] = "P5\n2 2\n65535\n\0\0\0\0\0\0\0\0";
	is_int(image_decode(j, p16, sizeof p16 - 1, 0, &im, "w.pgm"), -1, "16-bit PNM refused");
	like(hm_errmsg(), "maxval 65535", "16-bit PNM message");
	const unsigned char shortp[] = "P6\n4 4\n255\nabc";
	is_int(image_decode(j, shortp, sizeof shortp - 1, 0, &im, "s.ppm"), -1,
	       "truncated PNM refused");
	like(hm_errmsg(), "truncated PNM", "truncated PNM message");
	const unsigned char huge[] = "P6\n99999 99999\n255\n";
	is_int(image_decode(j, huge, sizeof huge - 1, 0, &im, "h.ppm"), -1,
	       "absurd PNM size refused before allocating");
	is_int(image_load(j, "tests/tmp/no-such-file.jpg", 0, &im), -1, "missing file");
	like(hm_errmsg(), "no-such-file.jpg': cannot open", "missing file message");
}

int main(void)
{
	struct jpeg *j = jpeg_new();
	test_pnm(j);
	test_jpeg(j);
	test_errors(j);
	jpeg_free(j);
	return done_testing();
}
