"""Tests of minaperf.shell."""
