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

/* Allocates a zeroed image.  Returns 0 or -1. */
int image_alloc(struct image *im, int width, int height, int channels);
void image_free(struct image *im);

/*
 * Decodes JPEG or PNM bytes (detected from the first bytes) into an image
 * with CHANNELS channels (1 or 3; colour is converted), or 0 to keep the
 * file's own.  NAME is used in messages.  Returns 0 or -1.
 */
int image_decode(struct jpeg *j, const unsigned char *buf, size_t n,
		 int channels, struct image *out, const char *name);
/* Reads and decodes a file.  Returns 0 or -1 (message names the file). */
int image_load(struct jpeg *j, const char *path, int channels, struct image *out);
/* Reads a whole file into memory (caller frees *buf).  Limit: 64 MiB. */
int file_read_all(const char *path, unsigned char **buf, size_t *n);

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
