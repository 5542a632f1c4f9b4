package podexec

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// Options configure the server. Every field is required but Logger.
type Options struct {
	// Listen is the loopback address the nodes' kubelet port points at
	// (KWOK's --node-port).
	Listen string
	// CertFile and KeyFile are the serving certificate (for 127.0.0.1);
	// ClientCAFile the CA whose client certificates may call (the API
	// server's --kubelet-client-certificate).
	CertFile, KeyFile, ClientCAFile string
	// KWOK is the URL of KWOK's own server (--server-address), which gets
	// every request but exec.
	KWOK string
	// Config reads pods, claims, volumes and attachments.
	Config *rest.Config
	// StateDir holds the sandbox's mount point and the pods' emptyDirs.
	StateDir string
	// DataDir holds CSI volumes' data: <DataDir>/<driver>/<volume handle>/.
	DataDir string
	Logger  zerolog.Logger
}

// Server serves the kubelet endpoint; see the package comment.
type Server struct {
	opts   Options
	client kubernetes.Interface
	ln     net.Listener
	proxy  *httputil.ReverseProxy
	wg     sync.WaitGroup
}

// Listen prepares the state folder and binds the address; Serve then
// serves it.
func Listen(o Options) (*Server, error) {
	// A few reads per exec: client-go's default limit of 5 a second would
	// add 200 ms to every exec after the first ten.
	cfg := rest.CopyConfig(o.Config)
	cfg.QPS, cfg.Burst = -1, 0
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("podexec: client: %w", err)
	}
	kwok, err := url.Parse(o.KWOK)
	if err != nil {
		return nil, fmt.Errorf("podexec: KWOK URL %q: %w", o.KWOK, err)
	}
	for _, d := range []string{o.StateDir, filepath.Join(o.StateDir, "root"), filepath.Join(o.StateDir, "pods"), o.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("podexec: %w", err)
		}
	}
	// What a volume the pod may not read is bound to: empty, read-only.
	if err := os.MkdirAll(filepath.Join(o.StateDir, "empty"), 0o555); err != nil {
		return nil, fmt.Errorf("podexec: %w", err)
	}
	tlsCfg, err := serverTLS(o)
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", o.Listen, tlsCfg)
	if err != nil {
		return nil, fmt.Errorf("podexec: listening on %s: %w", o.Listen, err)
	}
	return &Server{opts: o, client: client, ln: ln, proxy: httputil.NewSingleHostReverseProxy(kwok)}, nil
}

func serverTLS(o Options) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("podexec: serving certificate: %w", err)
	}
	ca, err := os.ReadFile(o.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("podexec: client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("podexec: no certificate in %s", o.ClientCAFile)
	}
	// Only the API server (a client certificate of the cluster's CA) may
	// run commands, as with a kubelet.
	return &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve serves until ctx ends, then closes the listener and kills the
// commands still running.
func (s *Server) Serve(ctx context.Context) error {
	base, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          nil,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	select {
	case <-ctx.Done():
		cancel() // hijacked streams do not hear Shutdown: their commands end with base
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		s.wg.Wait()
		return nil
	case err := <-errc:
		return fmt.Errorf("podexec: %w", err)
	}
}

// ServeHTTP routes /exec/{namespace}/{pod}/[{uid}/]{container} to the
// sandbox and everything else to KWOK.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) < 4 || len(parts) > 5 || parts[0] != "exec" {
		s.proxy.ServeHTTP(w, r)
		return
	}
	ns, pod, container, uid := parts[1], parts[2], parts[len(parts)-1], ""
	if len(parts) == 5 {
		uid = parts[3]
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, "no command", http.StatusBadRequest)
		return
	}
	streamOpts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	// A hijacked connection's request context does not end when the
	// connection does: watch the connection, so that a caller who goes away
	// (Ctrl-C, a timeout) kills the command.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ww := &hijackWatcher{ResponseWriter: w, gone: cancel}
	remotecommand.ServeExec(ww, r.WithContext(ctx), s, ns+"/"+pod, uid, container, cmd, streamOpts,
		4*time.Hour, remotecommand.DefaultStreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// ExecInContainer implements remotecommand.Executor: it runs cmd confined,
// with the container's volumes, and returns a utilexec.ExitError for a
// non-zero exit.
func (s *Server) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if tty {
		return errors.New("the local cluster's exec has no TTY: run without -t")
	}
	ns, podName, _ := strings.Cut(name, "/")
	log := s.opts.Logger.With().Str("pod", name).Str("container", container).Strs("command", cmd).Logger()
	pod, err := s.client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("pod %s: %w", name, err)
	}
	if uid != "" && string(pod.UID) != uid {
		return fmt.Errorf("pod %s: uid %s is not %s", name, pod.UID, uid)
	}
	c := findContainer(pod, container)
	if c == nil {
		return fmt.Errorf("pod %s has no container %q", name, container)
	}
	mounts, err := s.mounts(ctx, pod, c)
	if err != nil {
		return err
	}
	sb := sandbox{root: filepath.Join(s.opts.StateDir, "root"), mounts: mounts, dir: c.WorkingDir, env: containerEnv(pod, c), hostname: pod.Name}
	// A container's processes end with it, exec'd ones too.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go s.watchPod(ctx, pod, cancel)
	start := time.Now()
	if out == nil {
		out = nopCloser{io.Discard}
	}
	if errOut == nil {
		errOut = nopCloser{io.Discard}
	}
	code, err := sb.run(ctx, cmd, in, out, errOut)
	// The end of the output, before the status: as a container runtime
	// does, so that the caller reads all of it (a stream left open could
	// lose its last frames when the connection closes). An end that could
	// not be sent is lost output too.
	if cerr := errors.Join(closeOutput("stdout", out), closeOutput("stderr", errOut)); cerr != nil && err == nil {
		err = fmt.Errorf("%q exited %d, but its output was not all delivered: %w", cmd[0], code, cerr)
	}
	log.Debug().Int("exit", code).Err(err).Stringer("took", time.Since(start)).Msg("exec")
	switch {
	case err != nil:
		return err
	case code != 0:
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// podPoll is how often a running command's pod is checked.
const podPoll = time.Second

// watchPod cancels ctx once pod is gone or being deleted.
func (s *Server) watchPod(ctx context.Context, pod *corev1.Pod, cancel context.CancelCauseFunc) {
	t := time.NewTicker(podPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur, err := s.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err), err == nil && cur.UID != pod.UID:
			cancel(fmt.Errorf("pod %s/%s is gone", pod.Namespace, pod.Name))
			return
		case err == nil && cur.DeletionTimestamp != nil:
			cancel(fmt.Errorf("pod %s/%s is being deleted", pod.Namespace, pod.Name))
			return
		}
	}
}

// closeOutput ends one of the command's output streams.
func closeOutput(what string, w io.Closer) error {
	if err := w.Close(); err != nil {
		return fmt.Errorf("ending the command's %s: %w", what, err)
	}
	return nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if c := &pod.Spec.Containers[i]; c.Name == name || name == "" {
			return c
		}
	}
	return nil
}

// containerEnv is the container's literal environment, with a PATH, HOME
// and HOSTNAME as a runtime would set them.
func containerEnv(pod *corev1.Pod, c *corev1.Container) []string {
	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/tmp", "HOSTNAME=" + pod.Name}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	return env
}

// hijackWatcher calls gone once the hijacked connection's reads fail (the
// caller closed it).
type hijackWatcher struct {
	http.ResponseWriter
	gone func()
}

func (h *hijackWatcher) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("cannot hijack the connection")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	wc := &watchedConn{Conn: conn, gone: h.gone}
	// Bytes already buffered are read first, then the watched connection.
	buffered, _ := rw.Reader.Peek(rw.Reader.Buffered())
	r := io.MultiReader(bytes.NewReader(bytes.Clone(buffered)), wc)
	return wc, bufio.NewReadWriter(bufio.NewReader(r), bufio.NewWriter(wc)), nil
}

func (h *hijackWatcher) Flush() {
	if f, ok := h.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type watchedConn struct {
	net.Conn
	gone func()
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.gone()
	}
	return n, err
}
