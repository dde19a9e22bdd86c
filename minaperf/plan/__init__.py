"""What a render would create and change, for a person: the summary `scripts.render`
prints and the diff of two renders."""
