"""Smart Grid Lab: shared code of the containerised mosaik co-simulation lab."""
