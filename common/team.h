/*
 * team.h: the calling thread's place in its OpenMP team, for the kernels
 * that share out fixed parts by thread number (nn.c, convstem.c); 0 of 1
 * in a build without OpenMP.  Internal to the library.
 */
#ifndef HM_TEAM_H
#define HM_TEAM_H

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int thread_id(void)
{
#ifdef _OPENMP
	return omp_get_thread_num();
#else
	return 0;
#endif
}

/* The threads the region got: fewer than asked inside another region. */
static inline int team_size(void)
{
#ifdef _OPENMP
	return omp_get_num_threads();
#else
	return 1;
#endif
}

#endif
