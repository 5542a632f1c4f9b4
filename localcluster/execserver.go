package localcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/scenario-runner/runner/localcluster/podexec"
)

// compExec names the exec server's log and pid files in detached mode.
const compExec = "kubelet-exec"

// execFlags are the exec server's settings for this cluster.
func (c *Cluster) execFlags(p pki) podexec.Flags {
	return podexec.Flags{
		Options: podexec.Options{
			Listen:   "127.0.0.1:" + strconv.Itoa(c.ports.kubelet),
			CertFile: p.path(kubeletCert), KeyFile: p.path(kubeletKey), ClientCAFile: p.path(caCert),
			KWOK:     fmt.Sprintf("http://127.0.0.1:%d", c.ports.kwok),
			StateDir: filepath.Join(c.opts.Dir, "exec"),
			DataDir:  c.opts.DataDir,
			Logger:   c.opts.Logger.With().Str("component", compExec).Logger(),
		},
		Kubeconfig: c.kubeconfig,
	}
}

// startExecServer starts the nodes' kubelet endpoint (package podexec): in
// this process when attached, as Options.ExecServer when detached (none
// without it: exec is then refused, as before).
func (c *Cluster) startExecServer(ctx context.Context, p pki) error {
	f := c.execFlags(p)
	if c.opts.Detached {
		if len(c.opts.ExecServer) == 0 {
			return nil
		}
		proc := &process{
			name:     compExec,
			path:     c.opts.ExecServer[0],
			args:     append(append([]string{}, c.opts.ExecServer[1:]...), f.Args()...),
			logPath:  filepath.Join(c.opts.Dir, "logs", compExec+".log"),
			pidPath:  filepath.Join(c.opts.Dir, "pids", compExec+".pid"),
			detached: true,
			ready:    tlsDialCheck(f.Listen),
		}
		if err := proc.start(); err != nil {
			return err
		}
		c.mu.Lock()
		c.procs = append(c.procs, proc)
		c.mu.Unlock()
		return c.waitProc(ctx, proc, proc.ready)
	}
	f.Config = c.RESTConfig()
	srv, err := podexec.Listen(f.Options)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(sctx); err != nil {
			c.opts.Logger.Error().Err(err).Msg("exec server stopped")
		}
	}()
	c.execStop = func() { cancel(); <-done }
	return nil
}

// tlsDialCheck succeeds once addr accepts TCP connections.
func tlsDialCheck(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		d := net.Dialer{Timeout: time.Second}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return conn.Close()
	}
}
