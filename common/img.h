/*
 * img: 8-bit images in memory, JPEG (TurboJPEG) and PNM (P5/P6) in files.
 *
 * struct image is HWC interleaved: channels 1 (grey) or 3 (RGB).  Functions
 * that produce an image allocate image.data; free it with image_free().
 *
 * JPEG work goes through a struct jpeg (TurboJPEG handles are not shareable
 * between threads): one per thread, from jpeg_new(), freed by jpeg_free().
 */
#ifndef HM_IMG_H
#define HM_IMG_H

#include <stddef.h>

struct image {
	int width, height, channels;
	unsigned char *data;	/* width * height * channels bytes */
};

struct jpeg;

struct jpeg *jpeg_new(void);
void jpeg_free(struct jpeg *j);

/* Allocates a zeroed image, with 16 bytes of slack after the last pixel
 * (the warp's SIMD loads may read past it).  Returns 0 or -1. */
int image_alloc(struct image *im, int width, int height, int channels);
void image_free(struct image *im);

/*
 * Decodes JPEG or PNM bytes (detected from the first bytes) into an image
 * with CHANNELS channels (1 or 3; colour is converted), or 0 to keep the
 * file's own.  NAME is used in messages.  Returns 0 or -1.
 */
int image_decode(struct jpeg *j, const unsigned char *buf, size_t n,
		 int channels, struct image *out, const char *name);

/*
 * Where the pixels of a region decode lie in the whole image, and at what
 * scale.  The image decoded at 1/DENOM of its size (libjpeg's DCT scaling:
 * the pixel at x' covers source pixels [x' DENOM, (x' + 1) DENOM), so its
 * centre is at source x = DENOM x' + (DENOM - 1) / 2) is FULL_WIDTH x
 * FULL_HEIGHT; the region's pixel (0, 0) is its pixel (X, Y).
 */
struct image_window {
	int x, y;
	int full_width, full_height;
	int denom;			/* 1, 2, 4 or 8 */
};

/*
 * Decodes only the part of an image that RECT needs: RECT = {x0, y0, x1,
 * y1}, inclusive, in pixels of the image decoded at 1/DENOM (1, 2, 4 or 8);
 * it may reach outside the image, and is clipped to it (a rectangle wholly
 * outside still decodes one pixel, so the file is still checked).  JPEG:
 * libjpeg's DCT scaling, jpeg_crop_scanline() for the columns (widened to
 * the iMCU grid, and by one column each side, since the edge columns of a
 * cropped decode may differ where chroma is upsampled), jpeg_skip_scanlines()
 * above and nothing read below; every pixel of RECT is the one a whole
 * decode at that scale gives (libjpeg-turbo decodes the same blocks the
 * same way), and at DENOM 1 the one image_decode() gives.  The image may
 * hold more than RECT.  PNM: the whole image, DENOM 1.  WIN says what was
 * decoded.  CHANNELS and errors as image_decode(); the data after the last
 * row RECT needs is not read, so damage there goes unnoticed.
 */
int image_decode_region(struct jpeg *j, const unsigned char *buf, size_t n,
			int channels, int denom, const int rect[4],
			struct image *out, struct image_window *win,
			const char *name);
/* Reads and decodes a file.  Returns 0 or -1 (message names the file). */
int image_load(struct jpeg *j, const char *path, int channels, struct image *out);

/*
 * Encodes as JPEG (quality 1..100, 4:2:0 for colour).  *out is malloc'd;
 * caller frees.  Returns 0 or -1.
 */
int image_encode_jpeg(struct jpeg *j, const struct image *im, int quality,
		      unsigned char **out, size_t *n);
/* Writes a JPEG file atomically. */
int image_save_jpeg(struct jpeg *j, const struct image *im, int quality,
		    const char *path);
/* Writes binary PNM (P5 grey, P6 RGB) atomically. */
int image_save_pnm(const struct image *im, const char *path);

#endif
