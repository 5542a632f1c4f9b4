package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/rbac"
	"github.com/scenario-runner/runner/steps"
)

// ErrPreflight marks a run refused before it touched anything: the
// identity lacks permissions the plans need, or the server would not say
// (exit 3).
var ErrPreflight = errors.New("preflight refused the run")

// preflight asks the API server whether the run's identity may do all that
// runner rbac lists for plans, before any step runs; what is missing is
// printed to w with the rules that would grant it.
func preflight(ctx context.Context, w io.Writer, log zerolog.Logger, client *kube.Client, plans []*engine.Plan) error {
	start := time.Now()
	policy, err := rbac.Derive(plans, steps.Kinds(), rbac.Discovered{Mapper: client.RESTMapper()})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPreflight, err)
	}
	missing, err := rbac.Preflight(ctx, client.Config, policy)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPreflight, err)
	}
	for _, u := range policy.Unknown {
		log.Warn().Str("need", u).Msg("preflight: not checked, known only at run time")
	}
	if len(missing) == 0 {
		log.Info().Int("rules", len(policy.Rules)).Dur("took", time.Since(start).Round(time.Millisecond)).Msg("preflight: every permission the plans need is granted")
		return nil
	}
	who := "this identity"
	if name, err := rbac.WhoAmI(ctx, client.Config); err == nil && name != "" {
		who = name
	}
	fmt.Fprintf(w, "preflight: %s lacks %d permission(s) the plans need; nothing was created:\n", who, len(missing))
	for _, m := range missing {
		fmt.Fprintf(w, "  %s\n", m)
	}
	grant, err := rbac.Grant(missing).YAML(rbac.Options{}, "Rules that would grant them (runner rbac prints all the plans need):")
	if err == nil {
		fmt.Fprintf(w, "\n%s", grant)
	}
	return fmt.Errorf("%w: %d missing permission(s) (--no-preflight skips the check)", ErrPreflight, len(missing))
}
