"""Tests of minaperf.experiment."""
