"""Google Cloud and registries: what a stack needs from its project, the calls that check
it (preflight), and image digests."""
