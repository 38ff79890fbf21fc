# The two commands a fresh machine needs (see README).
.PHONY: run test
run:
	bash deploy/local/run.sh

test:
	bash deploy/local/test.sh
