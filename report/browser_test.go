package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium finds headless Chromium (Debian's package installs
// /usr/bin/chromium; .ci/run installs it). Without it the browser tests skip,
// except under CI, where they fail.
func chromium(t *testing.T) string {
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

// headless runs Chromium on page with args and returns its stdout and
// stderr. No network: the page needs none, and background services are off.
func headless(t *testing.T, bin, page string, args ...string) (string, string) {
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

// TestHTMLInChromium opens report.html in headless Chromium: the DOM it
// builds has one step bar per step that ran, the page logs no console
// message (it has no JavaScript at all, so this guards against a script
// creeping in rather than finding errors in one), and its screenshot is a
// real picture.
func TestHTMLInChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	if _, err := WriteDir(dir, fixtureReport()); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, HTMLFile)

	dom, logs := headless(t, bin, page, "--dump-dom")
	if n := len(barRE.FindAllString(dom, -1)); n != 7 {
		t.Errorf("the rendered DOM has %d step bars, want 7", n)
	}
	if !strings.Contains(dom, "every pod is Running") || !strings.Contains(dom, `data-outcome="timed-out"`) {
		t.Error("the rendered DOM lacks the failed step")
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console message: %s", line)
		}
	}

	shot := filepath.Join(dir, "shot.png")
	headless(t, bin, page, "--hide-scrollbars", "--window-size=1280,1600", "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 1600 {
		t.Errorf("screenshot is %v", b)
	}
	if n := colours(img); n < 8 {
		t.Errorf("screenshot has %d colours: a blank page?", n)
	}
}

// colours counts the distinct colours of img, up to 1000.
func colours(img image.Image) int {
	seen := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			seen[[4]uint32{r, g, bl, a}] = true
			if len(seen) >= 1000 {
				return len(seen)
			}
		}
	}
	return len(seen)
}
