"""`babelq faults`: real processes, real brokers and stores, one fault each, and what became of the
jobs (see README, "Fault suite")."""
