# Convenience wrappers around the two commands in the README.
.PHONY: setup test

setup:
	scripts/setup

test:
	scripts/test
