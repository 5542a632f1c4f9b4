# Included from the top-level Makefile. Builds the local cluster binaries into
# the user cache (see localcluster/README.md). Idempotent.
.PHONY: cluster-bins
cluster-bins:
	localcluster/build.sh

# Prometheus for `runner sim up --prometheus` (about 4 minutes cold).
.PHONY: prometheus-bin
prometheus-bin:
	localcluster/build-prometheus.sh
