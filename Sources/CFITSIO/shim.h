// CFITSIO: not API. cfitsio's long names (fits_open_file, ...) are macros for the short ff*
// functions, some of them function-like, which Swift cannot import. FITSIO calls the short names
// directly; this header adds wrappers only where even those are macros. Only FITSIO imports it.
#ifndef PAIS_CFITSIO_SHIM_H
#define PAIS_CFITSIO_SHIM_H
#include <fitsio.h>

/// ffopen with the library's compiled-in version check, as fits_open_file does.
static inline int cfitsio_open(fitsfile **fptr, const char *name, int mode, int *status) {
    return ffopentest(CFITSIO_SONAME, fptr, name, mode, status);
}
static inline int cfitsio_readonly(void) { return READONLY; }
static inline int cfitsio_readwrite(void) { return READWRITE; }
static inline int cfitsio_flen_errmsg(void) { return FLEN_ERRMSG; }
static inline int cfitsio_flen_card(void) { return FLEN_CARD; }
static inline int cfitsio_flen_value(void) { return FLEN_VALUE; }

#endif
