"""The checks, one module per subject; importing a module registers its checks in the catalogue."""
