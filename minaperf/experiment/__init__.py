"""Driving deployed experiments: the rules of `experiment up`, campaigns of many runs,
and the routes to the database."""
