package localcluster

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
)

// writeKubeconfig writes a self-contained kubeconfig (certificates inline)
// for the identity whose certificate is <pki>/<id>.crt.
func writeKubeconfig(path, server string, p pki, id string) error {
	ca, err := os.ReadFile(p.path(caCert))
	if err != nil {
		return fmt.Errorf("reading CA for kubeconfig: %w", err)
	}
	crt, err := os.ReadFile(p.path(id + ".crt"))
	if err != nil {
		return fmt.Errorf("reading %s certificate: %w", id, err)
	}
	key, err := os.ReadFile(p.path(id + ".key"))
	if err != nil {
		return fmt.Errorf("reading %s key: %w", id, err)
	}
	b64 := base64.StdEncoding.EncodeToString
	data := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: runner-local
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: %s
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: runner-local
  context:
    cluster: runner-local
    user: %s
current-context: runner-local
`, server, b64(ca), id, b64(crt), b64(key), id)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating kubeconfig folder: %w", err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig %s: %w", path, err)
	}
	return nil
}
