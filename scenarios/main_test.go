package scenarios_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"

	"github.com/scenario-runner/runner/localcluster"
	"github.com/scenario-runner/runner/localcluster/clustertest"
	"github.com/scenario-runner/runner/longhornsim"
)

// TestMain shares one local cluster, with the Longhorn simulator, between
// the tests of this package: the example plans and the shipped scenarios.
// Tests that need no cluster never start it.
func TestMain(m *testing.M) { os.Exit(run(m)) }

// run gives the cluster and the simulator one folder for the volumes' data,
// so that pods' files on Longhorn volumes are kept (localcluster/podexec).
func run(m *testing.M) int {
	data, err := os.MkdirTemp("", "runner-csi-data-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(data)
	return clustertest.MainWithOptions(m, options(data))
}

// options are clustertest's defaults (3 nodes, progress on stderr) plus the
// Longhorn CRDs, installed before the cluster counts as ready, and the
// simulated Longhorn controllers in default mode, keeping volume data in
// dataDir.
func options(dataDir string) localcluster.Options {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).
		With().Timestamp().Logger()
	return localcluster.Options{
		Logger:  log.With().Str("from", "clustertest").Logger().Level(zerolog.InfoLevel),
		Hooks:   []func(ctx context.Context, cfg *rest.Config) error{longhornsim.InstallCRDs},
		DataDir: dataDir,
		Addons: []localcluster.Addon{{
			Name: "longhorn-sim",
			Run: func(ctx context.Context, cfg *rest.Config) error {
				return longhornsim.Run(ctx, cfg, longhornsim.Options{
					DataDir: dataDir,
					Logger:  log.With().Str("from", "longhorn-sim").Logger().Level(zerolog.WarnLevel),
				})
			},
		}},
	}
}
