/* Images: PNM and JPEG round trips, colour conversion, every decode error,
 * and region decodes (cropped, skipped, DCT-scaled) against whole decodes. */
#include "tap.h"
#include "err.h"
#include "img.h"
#include "util.h"

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

/* A busy test picture: ramps, noise, sharp edges (so chroma matters). */
static unsigned char *picture(int w, int h, unsigned seed)
{
	unsigned char *p = malloc((size_t)w * h * 3);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int c = 0; c < 3; c++) {
				seed = seed * 1103515245u + 12345u;
				int v = (x * (3 + c) + y * (5 - c)) % 256;
				if ((seed >> 16) % 4 == 0)
					v = (int)(seed >> 8) & 255;
				if ((x / 13 + y / 7) % 5 == 0)
					v = 255 - v;
				p[((size_t)y * w + x) * 3 + c] = (unsigned char)v;
			}
	return p;
}

/* JPEG bytes of a W x H picture with subsampling SUB, maybe progressive. */
static unsigned char *make_jpeg(int w, int h, int sub, int progressive, unsigned long *n)
{
	unsigned char *p = picture(w, h, (unsigned)(w * 31 + h + sub)), *jb = NULL;
	tjhandle tj = tjInitCompress();
	*n = 0;
	tjCompress2(tj, p, w, 0, h, TJPF_RGB, &jb, n, sub, 90,
		    progressive ? TJFLAG_PROGRESSIVE : 0);
	tjDestroy(tj);
	free(p);
	return jb;
}

/* The whole image at 1/DENOM as TurboJPEG decodes it. */
static void tj_decode(const unsigned char *jb, unsigned long n, int denom, int ch,
		      struct image *im)
{
	tjhandle tj = tjInitDecompress();
	int w, h, sub, cs;
	tjDecompressHeader3(tj, jb, n, &w, &h, &sub, &cs);
	tjscalingfactor sf = { 1, denom };
	image_alloc(im, TJSCALED(w, sf), TJSCALED(h, sf), ch);
	tjDecompress2(tj, jb, n, im->data, im->width, 0, im->height,
		      ch == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_ACCURATEDCT);
	tjDestroy(tj);
}

/* Whether every pixel of RECT (clipped) in the region decode R at WIN equals
 * the whole decode F's, and R lies inside F. */
static int region_matches(const struct image *r, const struct image_window *win,
			  const struct image *f, const int rect[4])
{
	if (win->full_width != f->width || win->full_height != f->height ||
	    win->x < 0 || win->y < 0 || win->x + r->width > f->width ||
	    win->y + r->height > f->height || r->channels != f->channels)
		return 0;
	int x0 = rect[0] < 0 ? 0 : rect[0], y0 = rect[1] < 0 ? 0 : rect[1];
	int x1 = rect[2] >= f->width ? f->width - 1 : rect[2];
	int y1 = rect[3] >= f->height ? f->height - 1 : rect[3];
	int C = f->channels;
	for (int y = y0; y <= y1; y++)
		for (int x = x0; x <= x1; x++) {
			if (x < win->x || x >= win->x + r->width || y < win->y ||
			    y >= win->y + r->height)
				return 0;
			if (memcmp(f->data + ((size_t)y * f->width + x) * C,
				   r->data + ((size_t)(y - win->y) * r->width + x - win->x) * C, C))
				return 0;
		}
	return 1;
}

static void test_region(struct jpeg *j)
{
	static const int subs[] = { TJSAMP_444, TJSAMP_422, TJSAMP_420, TJSAMP_GRAY,
				    TJSAMP_440, TJSAMP_411 };
	static const char *const sub_name[] = { "4:4:4", "4:2:2", "4:2:0", "grey",
						"4:4:0", "4:1:1" };
	unsigned seed = 5;
	for (int k = 0; k < 6; k++)
		for (int prog = 0; prog < 2; prog++) {
			unsigned long n;
			unsigned char *jb = make_jpeg(203, 157, subs[k], prog, &n);
			int good = 1, smaller = 0, tries = 0;
			for (int denom = 1; denom <= 8; denom *= 2)
				for (int ch = 1; ch <= 3; ch += 2) {
					struct image f, r;
					tj_decode(jb, n, denom, ch, &f);
					for (int t = 0; t < 12; t++, tries++) {
						int rect[4];
						seed = seed * 1103515245u + 12345u;
						/* corners, edges, inside, and wholly outside */
						int a = (int)(seed >> 8) % (f.width + 20) - 10;
						int b = (int)(seed >> 16) % (f.height + 20) - 10;
						rect[0] = a, rect[1] = b;
						rect[2] = a + (int)(seed >> 4) % (f.width / 2 + 1);
						rect[3] = b + (int)(seed >> 12) % (f.height / 2 + 1);
						if (t == 0)	/* the whole image */
							rect[0] = rect[1] = 0, rect[2] = f.width - 1,
							rect[3] = f.height - 1;
						struct image_window win;
						if (image_decode_region(j, jb, n, ch, denom, rect, &r, &win,
									"r.jpg")) {
							good = 0;
							continue;
						}
						good &= win.denom == denom && region_matches(&r, &win, &f, rect);
						if (t == 0)
							good &= r.width == f.width && r.height == f.height &&
								!memcmp(r.data, f.data, (size_t)f.width *
									f.height * ch);
						smaller += r.width < f.width || r.height < f.height;
						image_free(&r);
					}
					image_free(&f);
				}
			ok(good, "%s%s: region decodes at 1, 1/2, 1/4, 1/8, grey and RGB equal the "
			   "whole decode's pixels (%d rectangles)", sub_name[k],
			   prog ? " progressive" : "", tries);
			ok(smaller > tries / 2, "%s%s: and decode less (%d of %d)", sub_name[k],
			   prog ? " progressive" : "", smaller, tries);
			tjFree(jb);
		}

	/* Wholly outside: still one pixel, and the file is still checked. */
	unsigned long n;
	unsigned char *jb = make_jpeg(64, 48, TJSAMP_420, 0, &n);
	struct image r;
	struct image_window win;
	int far_rect[4] = { 500, 500, 600, 600 }, left[4] = { -90, -50, -20, -3 };
	is_int(image_decode_region(j, jb, n, 3, 1, far_rect, &r, &win, "o.jpg"), 0,
	       "rectangle below and right of the image decodes");
	ok(r.width >= 1 && r.height >= 1 && win.x + r.width == 64 && win.y + r.height == 48,
	   "the corner pixel (%dx%d at %d,%d)", r.width, r.height, win.x, win.y);
	image_free(&r);
	is_int(image_decode_region(j, jb, n, 3, 1, left, &r, &win, "o.jpg"), 0,
	       "rectangle above and left decodes");
	ok(win.x == 0 && win.y == 0 && r.width >= 1 && r.height == 1, "the first pixel");
	image_free(&r);
	int whole[4] = { 0, 0, 63, 47 };
	is_int(image_decode_region(j, jb, 40, 3, 1, whole, &r, &win, "cut.jpg"), -1,
	       "region decode: JPEG cut inside its header fails");
	like(hm_errmsg(), "'cut.jpg': bad JPEG", "with the decode's message");
	is_int(image_decode_region(j, jb, n - n / 3, 3, 1, whole, &r, &win, "cut.jpg"), 0,
	       "region decode: truncated JPEG decodes what it has, as image_decode");
	image_free(&r);
	is_int(image_decode_region(j, jb, n, 3, 3, whole, &r, &win, "s.jpg"), -1,
	       "scale 1/3 refused");
	tjFree(jb);

	/* CMYK refused as by image_decode */
	tjhandle tj = tjInitCompress();
	unsigned char *cmyk = calloc(16 * 16 * 4, 1), *cb = NULL;
	unsigned long cn = 0;
	tjCompress2(tj, cmyk, 16, 0, 16, TJPF_CMYK, &cb, &cn, TJSAMP_444, 90, 0);
	is_int(image_decode_region(j, cb, cn, 0, 1, whole, &r, &win, "cmyk.jpg"), -1,
	       "region decode: CMYK refused");
	like(hm_errmsg(), "CMYK", "CMYK message");
	tjFree(cb);
	tjDestroy(tj);
	free(cmyk);

	/* PNM: the whole image at scale 1 whatever is asked */
	struct image p, back;
	image_alloc(&p, 30, 20, 3);
	fill(&p);
	const char *ppm = tmp_path("r.ppm");
	image_save_pnm(&p, ppm);
	unsigned char *buf;
	size_t pn;
	file_read_all(ppm, &buf, &pn);
	int small[4] = { 3, 4, 5, 6 };
	is_int(image_decode_region(j, buf, pn, 0, 4, small, &back, &win, "r.ppm"), 0,
	       "PNM region decode");
	ok(win.x == 0 && win.y == 0 && win.denom == 1 && win.full_width == 30 &&
	   back.width == 30 && back.height == 20 && !memcmp(back.data, p.data, 30 * 20 * 3),
	   "PNM: the whole image, scale 1, as image_decode");
	image_free(&back);
	image_free(&p);
	free(buf);
	unlink(ppm);
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
	test_region(j);
	test_errors(j);
	jpeg_free(j);
	return done_testing();
}
