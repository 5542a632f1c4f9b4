package podexec

import (
	"github.com/spf13/pflag"
)

// Flags are the command-line form of Options, for a detached process that
// serves them (runner sim exec-server): the kubeconfig stands for Config.
type Flags struct {
	Options
	Kubeconfig string
}

// Bind declares the flags on fs.
func (f *Flags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.Listen, "listen", "", "loopback address of the nodes' kubelet port")
	fs.StringVar(&f.CertFile, "cert", "", "serving certificate")
	fs.StringVar(&f.KeyFile, "key", "", "serving key")
	fs.StringVar(&f.ClientCAFile, "client-ca", "", "CA of the client certificates allowed to call (the API server's)")
	fs.StringVar(&f.KWOK, "kwok", "", "URL of KWOK's server, which gets every request but exec")
	fs.StringVar(&f.Kubeconfig, "kubeconfig", "", "kubeconfig to read pods, claims, volumes and attachments")
	fs.StringVar(&f.StateDir, "state-dir", "", "folder of the sandbox's mount point and the pods' emptyDirs")
	fs.StringVar(&f.DataDir, "data-dir", "", "folder of CSI volumes' data: <data-dir>/<driver>/<volume handle>/")
}

// Args are the flags that Bind reads back into f.
func (f Flags) Args() []string {
	return []string{
		"--listen=" + f.Listen, "--cert=" + f.CertFile, "--key=" + f.KeyFile, "--client-ca=" + f.ClientCAFile,
		"--kwok=" + f.KWOK, "--kubeconfig=" + f.Kubeconfig, "--state-dir=" + f.StateDir, "--data-dir=" + f.DataDir,
	}
}
