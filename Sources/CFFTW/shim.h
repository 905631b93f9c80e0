// CFFTW: not API. Single-precision FFTW3 for the simulator's PSF convolution. Only SkySim imports it.
#ifndef PAIS_CFFTW_SHIM_H
#define PAIS_CFFTW_SHIM_H
#include <fftw3.h>
static inline unsigned cfftw_estimate(void) { return FFTW_ESTIMATE; }
#endif
