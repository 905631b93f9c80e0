// COpenBLAS: not API. Brings cblas.h and OpenBLAS's own extensions (thread count, build
// configuration) into Swift. Only Tensors imports it.
#ifndef PAIS_COPENBLAS_SHIM_H
#define PAIS_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
