package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// keyPair is a certificate with its private key.
type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// pki holds the paths of every certificate and key the control plane uses.
// All files live in one folder, <Dir>/pki.
type pki struct {
	dir string
}

func (p pki) path(name string) string { return filepath.Join(p.dir, name) }

// Paths of the PKI files, relative to the pki folder.
const (
	caCert            = "ca.crt"
	caKey             = "ca.key"
	apiserverCert     = "apiserver.crt"
	apiserverKey      = "apiserver.key"
	frontProxyCACert  = "front-proxy-ca.crt"
	frontProxyCert    = "front-proxy-client.crt"
	frontProxyKey     = "front-proxy-client.key"
	serviceAccountKey = "sa.key"
	serviceAccountPub = "sa.pub"
	// The nodes' kubelet endpoint (package podexec) serves kubeletCert;
	// the API server calls it with kubeletClientCert.
	kubeletCert       = "kubelet.crt"
	kubeletKey        = "kubelet.key"
	kubeletClientCert = "apiserver-kubelet-client.crt"
	kubeletClientKey  = "apiserver-kubelet-client.key"
)

// clientIdentity is a user that gets a client certificate and a kubeconfig.
type clientIdentity struct {
	file   string // base name of the .crt/.key/.kubeconfig files
	user   string
	groups []string
}

var clientIdentities = []clientIdentity{
	{file: "admin", user: "kubernetes-admin", groups: []string{"system:masters"}},
	{file: "controller-manager", user: "system:kube-controller-manager"},
	{file: "scheduler", user: "system:kube-scheduler"},
	// KWOK patches node and pod status, node leases and pods' finalizers;
	// system:masters keeps it simple on a throwaway cluster.
	{file: "kwok", user: "kwok-controller", groups: []string{"system:masters"}},
}

// generatePKI writes a cluster CA, the apiserver's serving certificate for
// 127.0.0.1/localhost, a front-proxy CA and client, a service-account key
// pair and one client certificate per clientIdentities entry.
func generatePKI(dir string) (pki, error) {
	p := pki{dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return p, fmt.Errorf("creating pki folder: %w", err)
	}
	now := time.Now()
	ca, err := newCA("runner-local-ca", now)
	if err != nil {
		return p, err
	}
	if err := writeKeyPair(p.path(caCert), p.path(caKey), ca); err != nil {
		return p, err
	}
	serving, err := newLeaf(ca, now, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)})
	if err != nil {
		return p, err
	}
	if err := writeKeyPair(p.path(apiserverCert), p.path(apiserverKey), serving); err != nil {
		return p, err
	}
	kubelet, err := newLeaf(ca, now, pkix.Name{CommonName: "kwok-kubelet"}, x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return p, err
	}
	if err := writeKeyPair(p.path(kubeletCert), p.path(kubeletKey), kubelet); err != nil {
		return p, err
	}
	kubeletClient, err := newLeaf(ca, now, pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return p, err
	}
	if err := writeKeyPair(p.path(kubeletClientCert), p.path(kubeletClientKey), kubeletClient); err != nil {
		return p, err
	}
	fpCA, err := newCA("runner-front-proxy-ca", now)
	if err != nil {
		return p, err
	}
	if err := writeCert(p.path(frontProxyCACert), fpCA.cert); err != nil {
		return p, err
	}
	fp, err := newLeaf(fpCA, now, pkix.Name{CommonName: "front-proxy-client"}, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return p, err
	}
	if err := writeKeyPair(p.path(frontProxyCert), p.path(frontProxyKey), fp); err != nil {
		return p, err
	}
	sa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return p, fmt.Errorf("generating service-account key: %w", err)
	}
	if err := writeKey(p.path(serviceAccountKey), sa); err != nil {
		return p, err
	}
	pub, err := x509.MarshalPKIXPublicKey(sa.Public())
	if err != nil {
		return p, fmt.Errorf("encoding service-account public key: %w", err)
	}
	if err := writePEM(p.path(serviceAccountPub), "PUBLIC KEY", pub, 0o644); err != nil {
		return p, err
	}
	for _, id := range clientIdentities {
		kp, err := newLeaf(ca, now, pkix.Name{CommonName: id.user, Organization: id.groups}, x509.ExtKeyUsageClientAuth, nil, nil)
		if err != nil {
			return p, err
		}
		if err := writeKeyPair(p.path(id.file+".crt"), p.path(id.file+".key"), kp); err != nil {
			return p, err
		}
	}
	return p, nil
}

func serial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return s, nil
}

func newCA(name string, now time.Time) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generating %s key: %w", name, err)
	}
	sn, err := serial()
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return keyPair{}, fmt.Errorf("signing %s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parsing %s: %w", name, err)
	}
	return keyPair{cert: cert, key: key}, nil
}

func newLeaf(ca keyPair, now time.Time, subject pkix.Name, usage x509.ExtKeyUsage, dns []string, ips []net.IP) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, fmt.Errorf("generating key for %s: %w", subject.CommonName, err)
	}
	sn, err := serial()
	if err != nil {
		return keyPair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      subject,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     dns,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return keyPair{}, fmt.Errorf("signing certificate for %s: %w", subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return keyPair{}, fmt.Errorf("parsing certificate for %s: %w", subject.CommonName, err)
	}
	return keyPair{cert: cert, key: key}, nil
}

func writeKeyPair(certPath, keyPath string, kp keyPair) error {
	if err := writeCert(certPath, kp.cert); err != nil {
		return err
	}
	return writeKey(keyPath, kp.key)
}

func writeCert(path string, cert *x509.Certificate) error {
	return writePEM(path, "CERTIFICATE", cert.Raw, 0o644)
}

func writeKey(path string, key crypto.Signer) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("encoding key %s: %w", path, err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
