package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"k8s.io/client-go/rest"
)

const testKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`

// TestSimLonghornFlags: `sim longhorn` hands --mode and --longhorn-crds to
// the simulator and refuses unknown values by listing the valid ones.
func TestSimLonghornFlags(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(testKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args              []string
		wantMode, wantCRD string
		wantErr           string
	}{
		{args: nil, wantMode: "default", wantCRD: "install"},
		{args: []string{"--longhorn-crds", "keep", "--mode", "legacy-queue-jam"}, wantMode: "legacy-queue-jam", wantCRD: "keep"},
		{args: []string{"--longhorn-crds", "replace"}, wantErr: `--longhorn-crds "replace": valid values are install, keep`},
		{args: []string{"--mode", "fast"}, wantErr: `--mode "fast": valid values are default, legacy-queue-jam`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var gotMode, gotCRDs string
			log := zerolog.Nop()
			cmd := NewSimCommand(SimDeps{
				Logger: &log,
				RunLonghorn: func(_ context.Context, _ *rest.Config, mode, crds, _, _ string, _ zerolog.Logger) error {
					gotMode, gotCRDs = mode, crds
					return nil
				},
			})
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			cmd.SetArgs(append([]string{"longhorn", "--kubeconfig", kc}, tt.args...))
			err := cmd.ExecuteContext(t.Context())
			switch {
			case tt.wantErr != "":
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("error %v, want %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case gotMode != tt.wantMode || gotCRDs != tt.wantCRD:
				t.Errorf("ran with mode %q crds %q, want %q %q", gotMode, gotCRDs, tt.wantMode, tt.wantCRD)
			}
		})
	}
}

// TestSimUpRefusesBadCRDChoice: up checks --longhorn-crds before starting
// anything.
func TestSimUpRefusesBadCRDChoice(t *testing.T) {
	log := zerolog.Nop()
	cmd := NewSimCommand(SimDeps{Logger: &log})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{"up", "--dir", t.TempDir(), "--longhorn-crds", "nope"})
	if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), `--longhorn-crds "nope": valid values are install, keep`) {
		t.Errorf("error %v", err)
	}
}
