"""Shell scripts shipped with the program (loaded as text, e.g. into ConfigMaps)."""
