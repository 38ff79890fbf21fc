# The two commands a fresh machine needs (see README), and the benchmark.
.PHONY: run test bench
run:
	bash deploy/local/run.sh

test:
	bash deploy/local/test.sh

bench:
	bash deploy/local/bench.sh $(ARGS)
