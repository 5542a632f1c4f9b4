package podexec

import (
	"testing"

	"github.com/spf13/pflag"
)

// TestFlagsRoundTrip: what Args writes, Bind reads back.
func TestFlagsRoundTrip(t *testing.T) {
	t.Parallel()
	in := Flags{Options: Options{Listen: "127.0.0.1:1", CertFile: "c", KeyFile: "k", ClientCAFile: "ca", KWOK: "http://127.0.0.1:2", StateDir: "s", DataDir: "d"}, Kubeconfig: "kc"}
	var out Flags
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	out.Bind(fs)
	if err := fs.Parse(in.Args()); err != nil {
		t.Fatal(err)
	}
	if out.Kubeconfig != in.Kubeconfig || out.Listen != in.Listen || out.CertFile != in.CertFile || out.KeyFile != in.KeyFile ||
		out.ClientCAFile != in.ClientCAFile || out.KWOK != in.KWOK || out.StateDir != in.StateDir || out.DataDir != in.DataDir {
		t.Errorf("read back %+v, want %+v", out, in)
	}
}
