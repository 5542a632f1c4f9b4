package report

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scenario-runner/runner/report/browsertest"
)

// TestHTMLInChromium opens report.html in headless Chromium: the DOM it
// builds has one step bar per step that ran, the page logs no console
// message (it has no JavaScript at all, so this guards against a script
// creeping in rather than finding errors in one), and its screenshot is a
// real picture.
func TestHTMLInChromium(t *testing.T) {
	bin := browsertest.Chromium(t)
	dir := t.TempDir()
	if _, err := WriteDir(dir, fixtureReport(), nil); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, HTMLFile)

	dom, logs := browsertest.Headless(t, bin, page, "--dump-dom")
	if n := len(barRE.FindAllString(dom, -1)); n != 7 {
		t.Errorf("the rendered DOM has %d step bars, want 7", n)
	}
	if !strings.Contains(dom, "every pod is Running") || !strings.Contains(dom, `data-outcome="timed-out"`) {
		t.Error("the rendered DOM lacks the failed step")
	}
	// The timeProbe's measured metrics, under its section: two series
	// drawn, and the absent query said to be absent.
	if n := strings.Count(dom, `<polyline class="series `); n != 2 || !strings.Contains(dom, "absent: no series matched") {
		t.Errorf("the rendered DOM has %d measured lines (want 2) or lacks the absent note", n)
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") {
			t.Errorf("console message: %s", line)
		}
	}

	shot := filepath.Join(dir, "shot.png")
	browsertest.Headless(t, bin, page, "--hide-scrollbars", "--window-size=1280,1600", "--screenshot="+shot)
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
