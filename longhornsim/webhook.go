package longhornsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The admission webhook the simulator serves on loopback in place of
// longhorn-manager's (webhook/server/server.go,
// runAdmissionWebhookListenAndServe): the same configuration and webhook
// names, paths, rules and failure policy, but called by URL
// (https://127.0.0.1:PORT/...) with a CA made at every start instead of a
// Service and a CA secret.
const (
	validatingWebhookName = "longhorn-webhook-validator" // types.ValidatingWebhookName
	mutatingWebhookName   = "longhorn-webhook-mutator"   // types.MutatingWebhookName
	validatorHook         = "validator.longhorn.io"
	mutatorHook           = "mutator.longhorn.io"
	validationPath        = "/v1/webhook/validation"
	mutationPath          = "/v1/webhook/mutation"
)

// webhookRules are the resources and operations of Longhorn's mutator and
// validator that the simulator models (each Resource() in
// webhook/resources/{volume,backingimage,volumeattachment}/{mutator,validator}.go).
// Status writes do not match: Longhorn's rules name no subresource.
var (
	mutatorRules = []admissionregv1.RuleWithOperations{
		lhRule("volumes", admissionregv1.Create, admissionregv1.Update),
		lhRule("backingimages", admissionregv1.Create, admissionregv1.Update),
		lhRule("volumeattachments", admissionregv1.Create, admissionregv1.Update),
	}
	validatorRules = []admissionregv1.RuleWithOperations{
		lhRule("volumes", admissionregv1.Create, admissionregv1.Update, admissionregv1.Delete),
		lhRule("backingimages", admissionregv1.Create, admissionregv1.Update, admissionregv1.Delete),
		lhRule("volumeattachments", admissionregv1.Create, admissionregv1.Update),
	}
)

func lhRule(resource string, ops ...admissionregv1.OperationType) admissionregv1.RuleWithOperations {
	scope := admissionregv1.NamespacedScope
	return admissionregv1.RuleWithOperations{
		Operations: ops,
		Rule: admissionregv1.Rule{
			APIGroups: []string{"longhorn.io"}, APIVersions: []string{"v1beta2"},
			Resources: []string{resource}, Scope: &scope,
		},
	}
}

// webhook is the running admission server and the configurations that point
// the API server at it.
type webhook struct {
	srv      *http.Server
	url      string
	caPEM    []byte
	written  map[string]string // configuration name -> resourceVersion we wrote
	serveErr chan error
}

// startWebhook serves admission on a free loopback port, registers the
// mutating and validating configurations (replacing those of an earlier
// run) and waits until the API server calls it. The caches must be synced.
func (s *sim) startWebhook(ctx context.Context) (*webhook, error) {
	caPEM, cert, err := selfSignedServing()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("webhook listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(mutationPath, admissionHandler(s.log, s.mutate))
	mux.Handle(validationPath, admissionHandler(s.log, s.validate))
	w := &webhook{
		srv: &http.Server{
			Handler:           mux,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			ReadHeaderTimeout: 10 * time.Second,
		},
		url:      "https://" + ln.Addr().String(),
		caPEM:    caPEM,
		written:  map[string]string{},
		serveErr: make(chan error, 1),
	}
	go func() { w.serveErr <- w.srv.ServeTLS(ln, "", "") }()
	if err := s.registerWebhook(ctx, w); err != nil {
		s.stopWebhook(w)
		return nil, err
	}
	if err := s.waitWebhookActive(ctx, 30*time.Second); err != nil {
		s.stopWebhook(w)
		return nil, err
	}
	s.log.Info().Str("url", w.url).Msg("admission webhook registered")
	return w, nil
}

// registerWebhook creates or replaces the two configurations.
func (s *sim) registerWebhook(ctx context.Context, w *webhook) error {
	fail := admissionregv1.Fail
	exact := admissionregv1.Exact
	none := admissionregv1.SideEffectClassNone
	timeout := int32(10)
	mURL, vURL := w.url+mutationPath, w.url+validationPath
	regs := s.kube.AdmissionregistrationV1()
	m := &admissionregv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: mutatingWebhookName, Labels: map[string]string{"app.kubernetes.io/managed-by": fieldManager}},
		Webhooks: []admissionregv1.MutatingWebhook{{
			Name:                    mutatorHook,
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: &mURL, CABundle: w.caPEM},
			Rules:                   mutatorRules,
			FailurePolicy:           &fail,
			MatchPolicy:             &exact,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	v := &admissionregv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: validatingWebhookName, Labels: map[string]string{"app.kubernetes.io/managed-by": fieldManager}},
		Webhooks: []admissionregv1.ValidatingWebhook{{
			Name:                    validatorHook,
			ClientConfig:            admissionregv1.WebhookClientConfig{URL: &vURL, CABundle: w.caPEM},
			Rules:                   validatorRules,
			FailurePolicy:           &fail,
			MatchPolicy:             &exact,
			SideEffects:             &none,
			TimeoutSeconds:          &timeout,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	opts := metav1.CreateOptions{FieldManager: fieldManager}
	// Replace what an earlier run (or a killed one) left: delete, then create.
	for _, del := range []func() error{
		func() error {
			return regs.MutatingWebhookConfigurations().Delete(ctx, mutatingWebhookName, metav1.DeleteOptions{})
		},
		func() error {
			return regs.ValidatingWebhookConfigurations().Delete(ctx, validatingWebhookName, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("remove old webhook configuration: %w", err)
		}
	}
	gotM, err := regs.MutatingWebhookConfigurations().Create(ctx, m, opts)
	if err != nil {
		return fmt.Errorf("create MutatingWebhookConfiguration %s: %w", mutatingWebhookName, err)
	}
	w.written[mutatingWebhookName] = gotM.ResourceVersion
	gotV, err := regs.ValidatingWebhookConfigurations().Create(ctx, v, opts)
	if err != nil {
		return fmt.Errorf("create ValidatingWebhookConfiguration %s: %w", validatingWebhookName, err)
	}
	w.written[validatingWebhookName] = gotV.ResourceVersion
	return nil
}

// webhookProbe is the backing image that a dry-run create sends through the
// mutator to learn that the API server calls the webhook.
const webhookProbe = "longhorn-sim-webhook-probe"

// waitWebhookActive dry-runs the creation of a backing image until the
// answer carries the finalizer the mutator adds: from then on every request
// goes through the webhook. Configurations reach the API server's admission
// chain through an informer, a moment after they are written.
func (s *sim) waitWebhookActive(ctx context.Context, timeout time.Duration) error {
	probe := toUnstructuredMust(map[string]any{
		"apiVersion": "longhorn.io/v1beta2", "kind": "BackingImage",
		"metadata": map[string]any{"name": webhookProbe, "namespace": Namespace},
		"spec": map[string]any{"sourceType": "download", "sourceParameters": map[string]any{"url": "https://example.invalid/probe.qcow2"},
			"minNumberOfCopies": int64(1)},
	})
	var last string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := s.dyn.Resource(backingImageGVR).Namespace(Namespace).Create(ctx, probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		for _, f := range got.GetFinalizers() {
			if f == longhornFinalizer {
				return true, nil
			}
		}
		last = fmt.Sprintf("finalizers %v", got.GetFinalizers())
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for the API server to call the admission webhook (last: %s): %w", last, err)
	}
	return nil
}

// stopWebhook removes the configurations this run wrote (unless another run
// replaced them since) and stops the server. Removing them keeps a cluster
// whose simulator stopped usable: with failurePolicy Fail and nobody
// listening, every write of a Longhorn volume, backing image or
// VolumeAttachment would be refused.
func (s *sim) stopWebhook(w *webhook) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	regs := s.kube.AdmissionregistrationV1()
	for name, rv := range w.written {
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}}
		var err error
		if name == mutatingWebhookName {
			err = regs.MutatingWebhookConfigurations().Delete(ctx, name, opts)
		} else {
			err = regs.ValidatingWebhookConfigurations().Delete(ctx, name, opts)
		}
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			s.log.Warn().Err(err).Str("configuration", name).Msg("could not remove the webhook configuration")
		}
	}
	s.log.Info().Msg("admission webhook configurations removed")
	if err := w.srv.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Msg("webhook server shutdown")
	}
	if err := <-w.serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Warn().Err(err).Msg("webhook server")
	}
}

// admitFunc decides one admission request: patch operations for a mutator
// (nil for none), or an *admitError to refuse.
type admitFunc func(ctx context.Context, req *admissionv1.AdmissionRequest) ([]patchOp, error)

// admitError is a refusal as longhorn-manager's webhook/error.AdmitError
// makes it: the message becomes the API error the client sees, after the
// API server's `admission webhook "<name>" denied the request: `.
type admitError struct {
	message string
	code    int32
	reason  metav1.StatusReason
	field   string
}

func (e *admitError) Error() string { return e.message }

// invalid is werror.NewInvalidError: 422 Invalid with one cause.
func invalid(field, format string, args ...any) *admitError {
	return &admitError{message: fmt.Sprintf(format, args...), code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid, field: field}
}

func (e *admitError) status() *metav1.Status {
	st := &metav1.Status{Status: metav1.StatusFailure, Message: e.message, Code: e.code, Reason: e.reason}
	if e.reason == metav1.StatusReasonInvalid {
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: metav1.CauseTypeFieldValueInvalid, Message: e.message, Field: e.field}}}
	}
	return st
}

// patchOp is one JSON patch operation.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// admissionHandler serves AdmissionReview v1 requests with decide.
func admissionHandler(log zerolog.Logger, decide admitFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
			http.Error(rw, fmt.Sprintf("decode AdmissionReview: %v", err), http.StatusBadRequest)
			return
		}
		req := review.Request
		resp := &admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}
		ops, err := decide(r.Context(), req)
		var ae *admitError
		switch {
		case errors.As(err, &ae):
			resp.Allowed, resp.Result = false, ae.status()
			log.Debug().Str("operation", string(req.Operation)).Str("resource", req.Resource.Resource).Str("name", req.Name).
				Str("refusal", ae.message).Msg("admission refused")
		case err != nil:
			resp.Allowed = false
			resp.Result = &metav1.Status{Status: metav1.StatusFailure, Message: err.Error(), Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError}
		case len(ops) > 0:
			patch, err := json.Marshal(ops)
			if err != nil {
				http.Error(rw, err.Error(), http.StatusInternalServerError)
				return
			}
			pt := admissionv1.PatchTypeJSONPatch
			resp.Patch, resp.PatchType = patch, &pt
		}
		out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: resp})
		if err != nil {
			http.Error(rw, err.Error(), http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write(out)
	})
}

// selfSignedServing makes a CA and a serving certificate for 127.0.0.1
// signed by it, valid for a year; the CA goes into the caBundle.
func selfSignedServing() (caPEM []byte, cert tls.Certificate, err error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, fmt.Errorf("webhook CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "longhorn-sim-webhook-ca"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, cert, fmt.Errorf("webhook CA: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, cert, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, cert, fmt.Errorf("webhook serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "longhorn-admission-webhook.longhorn-system.svc"},
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, cert, fmt.Errorf("webhook serving certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, cert, err
	}
	cert, err = tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, cert, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), cert, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return n
}
