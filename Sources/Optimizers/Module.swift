// Optimizers: placeholder until its issue lands.
