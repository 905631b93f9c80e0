// FITSIO: placeholder until its issue lands.
