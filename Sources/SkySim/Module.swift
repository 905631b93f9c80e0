// SkySim: placeholder until its issue lands.
