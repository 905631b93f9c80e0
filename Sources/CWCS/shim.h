// CWCS: not API. wcslib, the reference implementation of the FITS WCS papers, for pixel <-> sky
// conversion with every header convention (CD, PC + CDELT, CROTA) and projection. Only FITSIO
// imports it.
#ifndef PAIS_CWCS_SHIM_H
#define PAIS_CWCS_SHIM_H
#include <wcslib/wcs.h>
#include <wcslib/wcshdr.h>
#include <wcslib/wcsfix.h>
static inline int cwcs_relax_all(void) { return WCSHDR_all; }
// wcs_errmsg is a const char *[] of unknown size, which Swift cannot import.
static inline const char *cwcs_error_message(int status) {
    return (status >= 0 && status <= WCSERR_BAD_WORLD_COORD) ? wcs_errmsg[status] : "unknown wcslib status";
}
#endif
