// DistributedMPI: placeholder until its issue lands.
