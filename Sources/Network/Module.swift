// Network: placeholder until its issue lands.
