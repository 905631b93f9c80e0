// Datasets: placeholder until its issue lands.
