// Package browsertest runs headless Chromium for tests that check what a
// person sees in report.html. It is for tests only.
package browsertest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Chromium finds headless Chromium (Debian's package installs
// /usr/bin/chromium; .ci/run installs it). Without it the browser tests skip,
// except under CI, where they fail.
func Chromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: not starting a browser")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium not found (CI installs Debian's chromium package in .ci/run)")
	}
	t.Skip("chromium not found: apt-get install chromium to run the browser test")
	return ""
}

// Headless runs Chromium on page with args and returns its stdout and
// stderr. No network: the page needs none, and background services are off.
func Headless(t *testing.T, bin, page string, args ...string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0",
	}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errOut.String())
	}
	return out.String(), errOut.String()
}
