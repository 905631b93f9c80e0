// Tensors: placeholder until its issue lands.
