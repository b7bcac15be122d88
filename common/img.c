#include "img.h"
#include "err.h"
#include "outfile.h"
#include "rec.h"
#include "util.h"

#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <turbojpeg.h>


/* libjpeg's errors longjmp back to the decode; its warnings (corrupt or
 * truncated data) are neither printed nor fatal, as TurboJPEG treats them. */
struct jerr {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
	char msg[JMSG_LENGTH_MAX];
};

struct jpeg {
	tjhandle dec, enc;
	/* region decodes go through libjpeg: TurboJPEG 2.1 cannot crop */
	struct jpeg_decompress_struct d;
	struct jerr err;
	int have_d;
};

static void jerr_exit(j_common_ptr c)
{
	struct jerr *e = (struct jerr *)c->err;
	e->pub.format_message(c, e->msg);
	longjmp(e->jb, 1);
}

static void jerr_output(j_common_ptr c)
{
	(void)c;	/* warnings: as TurboJPEG, say nothing */
}

static int create_decompress(struct jpeg *j)
{
	j->d.err = jpeg_std_error(&j->err.pub);
	j->err.pub.error_exit = jerr_exit;
	j->err.pub.output_message = jerr_output;
	if (setjmp(j->err.jb))
		return -1;
	jpeg_create_decompress(&j->d);
	j->have_d = 1;
	return 0;
}

struct jpeg *jpeg_new(void)
{
	struct jpeg *j = calloc(1, sizeof *j);
	if (!j) {
		hm_error("out of memory");
		return NULL;
	}
	j->dec = tjInitDecompress();
	j->enc = tjInitCompress();
	if (!j->dec || !j->enc) {
		hm_error("cannot initialise TurboJPEG: %s", tjGetErrorStr2(NULL));
		jpeg_free(j);
		return NULL;
	}
	if (create_decompress(j)) {
		hm_error("cannot initialise libjpeg: %s", j->err.msg);
		jpeg_free(j);
		return NULL;
	}
	return j;
}

void jpeg_free(struct jpeg *j)
{
	if (!j)
		return;
	if (j->dec)
		tjDestroy(j->dec);
	if (j->enc)
		tjDestroy(j->enc);
	if (j->have_d)
		jpeg_destroy_decompress(&j->d);
	free(j);
}

int image_alloc(struct image *im, int width, int height, int channels)
{
	im->width = width;
	im->height = height;
	im->channels = channels;
	im->data = calloc((size_t)width * height * channels + 16, 1);
	if (!im->data)
		return hm_error("out of memory for a %dx%d image", width, height);
	return 0;
}

void image_free(struct image *im)
{
	free(im->data);
	memset(im, 0, sizeof *im);
}

static int decode_jpeg(struct jpeg *j, const unsigned char *buf, size_t n,
		       int channels, struct image *out, const char *name)
{
	int w = 0, h = 0, sub = 0, space = 0;
	if (tjDecompressHeader3(j->dec, buf, (unsigned long)n, &w, &h, &sub, &space))
		return hm_error_file(name, "bad JPEG: %s", tjGetErrorStr2(j->dec));
	if (w < 1 || h < 1)
		return hm_error_file(name, "bad JPEG: incomplete header");
	if (w > REC_MAX_SIDE || h > REC_MAX_SIDE)
		return hm_error_file(name, "JPEG size %dx%d out of range", w, h);
	if (space == TJCS_CMYK || space == TJCS_YCCK)
		return hm_error_file(name, "CMYK JPEG not supported");
	if (!channels)
		channels = space == TJCS_GRAY ? 1 : 3;
	if (image_alloc(out, w, h, channels))
		return -1;
	int pf = channels == 1 ? TJPF_GRAY : TJPF_RGB;
	if (tjDecompress2(j->dec, buf, (unsigned long)n, out->data, w, 0, h, pf,
			  TJFLAG_ACCURATEDCT) &&
	    tjGetErrorCode(j->dec) == TJERR_FATAL) {
		image_free(out);
		return hm_error_file(name, "bad JPEG: %s", tjGetErrorStr2(j->dec));
	}
	return 0;
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/*
 * The region decode (see img.h).  Set up as tjDecompress2() sets up its
 * decompressor for TJPF_RGB / TJPF_GRAY and TJFLAG_ACCURATEDCT (islow IDCT,
 * fancy upsampling), so that the pixels are the same.
 */
static int region_work(struct jpeg *j, const unsigned char *buf, size_t n,
		       int channels, int denom, const int rect[4],
		       struct image *out, struct image_window *win,
		       const char *name)
{
	struct jpeg_decompress_struct *d = &j->d;
	jpeg_mem_src(d, buf, (unsigned long)n);
	jpeg_read_header(d, TRUE);
	int w = (int)d->image_width, h = (int)d->image_height;
	if (w > REC_MAX_SIDE || h > REC_MAX_SIDE) {
		jpeg_abort_decompress(d);
		return hm_error_file(name, "JPEG size %dx%d out of range", w, h);
	}
	if (d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK) {
		jpeg_abort_decompress(d);
		return hm_error_file(name, "CMYK JPEG not supported");
	}
	if (!channels)
		channels = d->jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
	d->out_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_EXT_RGB;
	d->dct_method = JDCT_ISLOW;
	d->do_fancy_upsampling = TRUE;
	d->scale_num = 1;
	d->scale_denom = (unsigned)denom;
	jpeg_start_decompress(d);
	int W = (int)d->output_width, H = (int)d->output_height;
	int x0 = clampi(rect[0], 0, W - 1), x1 = clampi(rect[2], x0, W - 1);
	int y0 = clampi(rect[1], 0, H - 1), y1 = clampi(rect[3], y0, H - 1);
	/* one more column each side: a crop's edge columns may differ */
	JDIMENSION xoff = (JDIMENSION)(x0 > 0 ? x0 - 1 : 0);
	JDIMENSION cw = (JDIMENSION)((x1 < W - 1 ? x1 + 1 : x1) + 1) - xoff;
	if (xoff > 0 || cw < (JDIMENSION)W)
		jpeg_crop_scanline(d, &xoff, &cw);
	if (image_alloc(out, (int)cw, y1 - y0 + 1, channels)) {
		jpeg_abort_decompress(d);
		return -1;
	}
	if (y0 > 0)
		jpeg_skip_scanlines(d, (JDIMENSION)y0);
	size_t stride = (size_t)cw * channels;
	while ((int)d->output_scanline <= y1) {
		JSAMPROW row = out->data + (size_t)((int)d->output_scanline - y0) * stride;
		if (jpeg_read_scanlines(d, &row, 1) != 1)
			break;	/* cannot happen with a memory source */
	}
	jpeg_abort_decompress(d);
	*win = (struct image_window){ .x = (int)xoff, .y = y0, .full_width = W,
				      .full_height = H, .denom = denom };
	return 0;
}

static int decode_jpeg_region(struct jpeg *j, const unsigned char *buf, size_t n,
			      int channels, int denom, const int rect[4],
			      struct image *out, struct image_window *win,
			      const char *name)
{
	if (setjmp(j->err.jb)) {
		jpeg_abort_decompress(&j->d);
		image_free(out);
		return hm_error_file(name, "bad JPEG: %s", j->err.msg);
	}
	return region_work(j, buf, n, channels, denom, rect, out, win, name);
}

/* PNM header: magic, width, height, maxval, with '#' comments. */
static int pnm_number(const unsigned char *buf, size_t n, size_t *pos, long *v)
{
	for (;;) {
		while (*pos < n && strchr(" \t\r\n", buf[*pos]))
			(*pos)++;
		if (*pos < n && buf[*pos] == '#') {
			while (*pos < n && buf[*pos] != '\n')
				(*pos)++;
			continue;
		}
		break;
	}
	if (*pos >= n || buf[*pos] < '0' || buf[*pos] > '9')
		return -1;
	*v = 0;
	while (*pos < n && buf[*pos] >= '0' && buf[*pos] <= '9') {
		*v = *v * 10 + (buf[*pos] - '0');
		if (*v > 1000000)
			return -1;
		(*pos)++;
	}
	return 0;
}

static void convert(const unsigned char *src, int from, unsigned char *dst,
		    int to, size_t npix)
{
	for (size_t i = 0; i < npix; i++) {
		const unsigned char *s = src + i * from;
		unsigned char *d = dst + i * to;
		if (from == to)
			memcpy(d, s, to);
		else if (to == 3)
			d[0] = d[1] = d[2] = s[0];
		else	/* ITU-R BT.601 luma, as libjpeg */
			d[0] = (unsigned char)((19595 * s[0] + 38470 * s[1] +
						7471 * s[2] + 32768) >> 16);
	}
}

static int decode_pnm(const unsigned char *buf, size_t n, int channels,
		      struct image *out, const char *name)
{
	int file_ch = buf[1] == '5' ? 1 : 3;
	size_t pos = 2;
	long w, h, maxval;
	if (pnm_number(buf, n, &pos, &w) || pnm_number(buf, n, &pos, &h) ||
	    pnm_number(buf, n, &pos, &maxval) || pos >= n)
		return hm_error_file(name, "bad PNM header");
	pos++;	/* the single whitespace byte after maxval */
	if (w < 1 || h < 1 || w > REC_MAX_SIDE || h > REC_MAX_SIDE)
		return hm_error_file(name, "PNM size %ldx%ld out of range", w, h);
	if (maxval != 255)
		return hm_error_file(name, "PNM maxval %ld not supported (only 255)", maxval);
	size_t need = (size_t)w * h * file_ch;
	if (n - pos < need)
		return hm_error_file(name, "truncated PNM data (%zu of %zu bytes)",
				     n - pos, need);
	if (!channels)
		channels = file_ch;
	if (image_alloc(out, (int)w, (int)h, channels))
		return -1;
	convert(buf + pos, file_ch, out->data, channels, (size_t)w * h);
	return 0;
}

int image_decode(struct jpeg *j, const unsigned char *buf, size_t n,
		 int channels, struct image *out, const char *name)
{
	memset(out, 0, sizeof *out);
	if (channels != 0 && channels != 1 && channels != 3)
		return hm_error_file(name, "bad channel count %d", channels);
	if (n >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		return decode_jpeg(j, buf, n, channels, out, name);
	if (n >= 2 && buf[0] == 'P' && (buf[1] == '5' || buf[1] == '6'))
		return decode_pnm(buf, n, channels, out, name);
	if (n == 0)
		return hm_error_file(name, "empty image file");
	return hm_error_file(name, "not a JPEG or PNM (P5/P6) image");
}

int image_decode_region(struct jpeg *j, const unsigned char *buf, size_t n,
			int channels, int denom, const int rect[4],
			struct image *out, struct image_window *win,
			const char *name)
{
	memset(out, 0, sizeof *out);
	if (denom != 1 && denom != 2 && denom != 4 && denom != 8)
		return hm_error_file(name, "bad decode scale 1/%d", denom);
	if (channels != 0 && channels != 1 && channels != 3)
		return hm_error_file(name, "bad channel count %d", channels);
	if (n >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff)
		return decode_jpeg_region(j, buf, n, channels, denom, rect, out, win, name);
	if (image_decode(j, buf, n, channels, out, name))
		return -1;
	*win = (struct image_window){ .full_width = out->width,
				      .full_height = out->height, .denom = 1 };
	return 0;
}

int image_load(struct jpeg *j, const char *path, int channels, struct image *out)
{
	unsigned char *buf;
	size_t n;
	if (file_read_all(path, &buf, &n))
		return -1;
	int rc = image_decode(j, buf, n, channels, out, path);
	free(buf);
	return rc;
}

int image_encode_jpeg(struct jpeg *j, const struct image *im, int quality,
		      unsigned char **out, size_t *n)
{
	unsigned char *tj = NULL;
	unsigned long len = 0;
	int pf = im->channels == 1 ? TJPF_GRAY : TJPF_RGB;
	int sub = im->channels == 1 ? TJSAMP_GRAY : TJSAMP_420;
	if (quality < 1 || quality > 100)
		return hm_error("JPEG quality %d out of range 1..100", quality);
	if (tjCompress2(j->enc, im->data, im->width, 0, im->height, pf, &tj, &len,
			sub, quality, TJFLAG_ACCURATEDCT)) {
		tjFree(tj);
		return hm_error("JPEG encoding failed: %s", tjGetErrorStr2(j->enc));
	}
	*out = malloc(len);
	if (!*out) {
		tjFree(tj);
		return hm_error("out of memory");
	}
	memcpy(*out, tj, len);
	*n = len;
	tjFree(tj);
	return 0;
}

int image_save_jpeg(struct jpeg *j, const struct image *im, int quality,
		    const char *path)
{
	unsigned char *buf;
	size_t n;
	if (image_encode_jpeg(j, im, quality, &buf, &n))
		return hm_error_prefix("'%s'", path);
	int rc = outfile_write_all(path, buf, n);
	free(buf);
	return rc;
}

int image_save_pnm(const struct image *im, const char *path)
{
	char head[64];
	int hn = snprintf(head, sizeof head, "P%c\n%d %d\n255\n",
			  im->channels == 1 ? '5' : '6', im->width, im->height);
	size_t n = (size_t)im->width * im->height * im->channels;
	unsigned char *buf = malloc(hn + n);
	if (!buf)
		return hm_error("out of memory");
	memcpy(buf, head, hn);
	memcpy(buf + hn, im->data, n);
	int rc = outfile_write_all(path, buf, hn + n);
	free(buf);
	return rc;
}
