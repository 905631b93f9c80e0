// PCR: placeholder until its issue lands.
