"""The node and worker-VM shell scripts (texts under `minaperf/assets/`) and what fills
them in."""
