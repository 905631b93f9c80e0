// Distributed: placeholder until its issue lands.
