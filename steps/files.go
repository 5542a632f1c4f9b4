package steps

import (
	"path/filepath"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/engine/diag"
	"github.com/scenario-runner/runner/engine/eval"
	"github.com/scenario-runner/runner/engine/files"
	"github.com/scenario-runner/runner/engine/manifest"
)

// loadManifests parses an inline manifest or the files of a glob. Files
// must be regular files inside the plan's root (see engine/files); the
// documents of one step are bounded by manifest.MaxDocuments, and the
// nodes of all the plan's manifests by manifest.MaxNodes.
func loadManifests(b *engine.Builder, inline, file engine.Text, scope *eval.Scope) []*manifest.Doc {
	switch {
	case inline.IsSet() && file.IsSet():
		b.Errorf(file.Pos, "give either manifest or file, not both")
		return nil
	case inline.IsSet():
		docs, err := manifest.ParseWithin(inline.Value, inline.Span, scope, budget(b))
		b.Add(err)
		return docs
	case file.IsSet():
		root := b.Root
		if root == nil {
			r, err := files.NewRoot(b.Dir)
			if err != nil {
				b.Errorf(file.Pos, "file %q: %v", file.Value, err)
				return nil
			}
			root = r
		}
		paths, err := root.Glob(b.Dir, file.Value)
		if err != nil {
			b.Errorf(file.Pos, "file %q: %v", file.Value, err)
			return nil
		}
		if len(paths) == 0 {
			pattern := file.Value
			if !filepath.IsAbs(pattern) {
				pattern = filepath.Join(b.Dir, pattern)
			}
			b.Errorf(file.Pos, "file %q: no such file (looked for %s)", file.Value, pattern)
			return nil
		}
		var docs []*manifest.Doc
		for _, p := range paths {
			if budget(b).Spent() {
				break // said once, for the file that spent it
			}
			data, err := root.Read("", p)
			if err != nil {
				b.Errorf(file.Pos, "file %q: %v", file.Value, err)
				continue
			}
			d, err := manifest.ParseWithin(string(data), diag.NewSource(p, data), scope, budget(b))
			b.Add(err)
			docs = append(docs, d...)
			if len(docs) > manifest.MaxDocuments {
				b.Errorf(file.Pos, "file %q: more than %d documents in one step (split the step)", file.Value, manifest.MaxDocuments)
				return nil
			}
		}
		return docs
	}
	b.Errorf(b.Here(), "apply needs manifest (inline YAML) or file")
	return nil
}

// budget is the plan's manifest budget (one of its own when the builder has
// none, as in unit tests).
func budget(b *engine.Builder) *manifest.Budget {
	if b.Manifests == nil {
		b.Manifests = manifest.NewBudget()
	}
	return b.Manifests
}
