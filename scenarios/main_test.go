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
func TestMain(m *testing.M) { os.Exit(clustertest.MainWithOptions(m, options())) }

// options are clustertest's defaults (3 nodes, progress on stderr) plus the
// Longhorn CRDs, installed before the cluster counts as ready, and the
// simulated Longhorn controllers in default mode.
func options() localcluster.Options {
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).
		With().Timestamp().Logger()
	return localcluster.Options{
		Logger: log.With().Str("from", "clustertest").Logger().Level(zerolog.InfoLevel),
		Hooks:  []func(ctx context.Context, cfg *rest.Config) error{longhornsim.InstallCRDs},
		Addons: []localcluster.Addon{{
			Name: "longhorn-sim",
			Run: func(ctx context.Context, cfg *rest.Config) error {
				return longhornsim.Run(ctx, cfg, longhornsim.Options{
					Logger: log.With().Str("from", "longhorn-sim").Logger().Level(zerolog.WarnLevel),
				})
			},
		}},
	}
}
