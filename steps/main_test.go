package steps_test

import (
	"os"
	"testing"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// TestMain shares one local control plane between the integration tests of
// this package (started on first use; -short skips them).
func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
