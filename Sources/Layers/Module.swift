// Layers: placeholder until its issue lands.
