// CFFTW: not API. FFTW3 for the simulator: single precision for its PSF convolutions, double for a
// PSF from a pupil with struts. Only SkySim imports it.
#ifndef PAIS_CFFTW_SHIM_H
#define PAIS_CFFTW_SHIM_H
#include <fftw3.h>
static inline unsigned cfftw_estimate(void) { return FFTW_ESTIMATE; }
#endif
