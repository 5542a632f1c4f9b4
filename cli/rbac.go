package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/scenario-runner/runner/engine"
	"github.com/scenario-runner/runner/kube"
	"github.com/scenario-runner/runner/rbac"
	"github.com/scenario-runner/runner/steps"
)

type rbacOptions struct {
	in             inputs
	sel            selection
	serviceAccount string
	name           string
	cleanupRole    bool
	discover       bool
	kubeconfig     string
	kubeContext    string
}

func newRBACCommand(streams Streams) *cobra.Command {
	o := &rbacOptions{}
	cmd := &cobra.Command{
		Use:   "rbac PATH...",
		Short: "Print the least RBAC (Roles, a ClusterRole) the plans need, each rule with the steps that need it",
		Long: `rbac prints the RBAC that running the plans needs and nothing more: what
each step asks of the API server (every step kind declares it), and what
runner does beyond the steps: cleanup deletes what steps create and waits
for it to be gone, restore patches back what they change, collect reads
events, pod logs and the kinds a plan's collect names.

Objects of a namespaced kind go into a Role of their namespace when it is
known before the run (from the plan, --set and --values) and no plan creates
it; else into the ClusterRole (allNamespaces, a namespace from an output or
the run id, one the plan creates), as do cluster-scoped kinds. Each rule is
commented with the steps (file:line) that need it. The output is sorted and
stable; kubectl apply -f - takes it.

Without a cluster, kinds map to resources by name (the lower-case plural)
and built-in cluster-scoped kinds are known; --discover asks the cluster
instead (needed for a cluster-scoped custom kind). Discovery itself is open
to every authenticated identity (the system:discovery role) and not listed.

With --service-account NS/NAME the bindings to that ServiceAccount are
printed too. --cleanup-role prints instead what 'runner cleanup --all' needs
to find and undo what these plans create or change in every namespace.

runner runs the same derivation as a preflight before every run (see
--no-preflight of runner).`,
		Example: `  runner rbac scenarios/ --service-account qa/runner | kubectl apply -f -
  runner rbac scenarios/bi-scalability.yaml --set replicas=25
  runner rbac scenarios/ --cleanup-role --service-account qa/janitor`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRBAC(cmd.Context(), streams, o, commandLine(cmd, args))
		},
	}
	f := cmd.Flags()
	o.in.addFlags(f)
	o.sel.addSelectorFlags(f)
	f.StringVar(&o.serviceAccount, "service-account", "", "bind the roles to this ServiceAccount, NAMESPACE/NAME")
	f.StringVar(&o.name, "name", rbac.DefaultName, "name of the ClusterRole, Roles and bindings")
	f.BoolVar(&o.cleanupRole, "cleanup-role", false, "print what 'runner cleanup --all' needs for what these plans create or change")
	f.BoolVar(&o.discover, "discover", false, "map kinds with the cluster's discovery instead of by name")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file, with --discover (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	f.StringVar(&o.kubeContext, "context", "", "kubeconfig context, with --discover")
	return cmd
}

// commandLine is the paths and the flags given, as the header of the
// output says how to print it again.
func commandLine(cmd *cobra.Command, args []string) []string {
	out := append([]string{}, args...)
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				if f.Name == "set-secret" { // never printed
					name, _, _ := strings.Cut(v, "=")
					v = name + "=<redacted>"
				}
				out = append(out, "--"+f.Name, v)
			}
			return
		}
		if f.Value.Type() == "bool" {
			out = append(out, "--"+f.Name)
			return
		}
		out = append(out, "--"+f.Name, f.Value.String())
	})
	return out
}

func runRBAC(ctx context.Context, streams Streams, o *rbacOptions, cmdline []string) error {
	args := cmdline[:0:0]
	for _, a := range cmdline {
		if strings.HasPrefix(a, "--") {
			break
		}
		args = append(args, a)
	}
	opts := rbac.Options{Name: o.name}
	if o.serviceAccount != "" {
		sa, err := rbac.ParseServiceAccount(o.serviceAccount)
		if err != nil {
			return fmt.Errorf("%w: --service-account: %v", ErrUsage, err)
		}
		opts.ServiceAccount = sa
	}
	s, err := loadSuite(args, o.in, o.sel)
	if err != nil {
		renderInvalid(streams.Err, err)
		return err
	}
	var mapper rbac.Mapper = rbac.Guess{}
	if o.discover {
		client, err := connect(ctx, kube.Options{Kubeconfig: o.kubeconfig, Context: o.kubeContext})
		if err != nil {
			return err
		}
		mapper = rbac.Discovered{Mapper: client.RESTMapper()}
	}
	derive, what := rbac.Derive, "the least RBAC these plans need"
	if o.cleanupRole {
		derive, what = rbac.CleanupRole, "what runner cleanup --all needs to undo what these plans create or change"
	}
	policy, err := derive(s.Plans, steps.Kinds(), mapper)
	if err != nil {
		return fmt.Errorf("%w: %v", engine.ErrInvalid, err)
	}
	out, err := policy.YAML(opts, fmt.Sprintf("runner rbac %s: %s.", strings.Join(cmdline, " "), what))
	if err != nil {
		return err
	}
	_, err = streams.Out.Write(out)
	return err
}

// connect builds a client and checks that the server answers.
func connect(ctx context.Context, o kube.Options) (*kube.Client, error) {
	client, err := kube.New(o)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := client.Check(cctx); err != nil {
		return nil, err
	}
	return client, nil
}
