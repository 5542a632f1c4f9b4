package cli

import (
	"os"
	"testing"

	"github.com/scenario-runner/runner/localcluster/clustertest"
)

// TestMain shares one local control plane between the end-to-end tests of
// this package; tests that need none never start it.
func TestMain(m *testing.M) { os.Exit(clustertest.Main(m)) }
