package steps

import "github.com/scenario-runner/runner/engine"

// Kinds returns a registry of every step kind. Adding a kind is its own
// file and one line here.
func Kinds() *engine.Registry {
	return engine.NewRegistry(
		engine.Kind{Name: "apply", Doc: "Server-side apply of manifests (inline, files or generated with forEach).", New: func() engine.Spec { return &ApplySpec{} }, Binds: outputBinds, Detail: &ApplyDetail{}, Fallible: true, Access: applyAccess},
		engine.Kind{Name: "delete", Doc: "Delete objects by target or manifest, and wait until they are gone.", New: func() engine.Spec { return &DeleteSpec{} }, Detail: &DeleteDetail{}, Fallible: true, Access: deleteAccess},
		engine.Kind{Name: "patch", Doc: "Patch existing objects (JSON merge, JSON patch or strategic merge); cleanup restores what it changed.", New: func() engine.Spec { return &PatchSpec{} }, Binds: outputBinds, Detail: &PatchDetail{}, Fallible: true, Access: patchAccess},
		engine.Kind{Name: "scale", Doc: "Set the replica count through the scale subresource.", New: func() engine.Spec { return &ScaleSpec{} }, Fallible: true, Access: scaleAccess},
		engine.Kind{Name: "waitFor", Doc: "Watch objects until a condition holds for all, any, or a count of them.", New: func() engine.Spec { return &WaitForSpec{} }, Binds: append([]string{"object"}, outputBinds...), Detail: &WaitDetail{}, Access: waitForAccess},
		engine.Kind{Name: "timeProbe", Doc: "Time nested steps, repeat them, and assert on the durations.", New: func() engine.Spec { return &TimeProbeSpec{} }, Binds: probeBinds, Detail: &ProbeDetail{}, Access: timeProbeAccess},
		engine.Kind{Name: "assert", Doc: "Check boolean expressions over vars and outputs; fail with the values they read.", New: func() engine.Spec { return &AssertSpec{} }, Detail: &AssertDetail{}},
		engine.Kind{Name: "metrics", Doc: "Read Prometheus metrics now (from pods through the API server, or a Prometheus), optionally until a condition holds; assert and bind outputs.", New: func() engine.Spec { return &MetricsSpec{} }, Detail: &MetricsDetail{}, Access: metricsAccess},
		engine.Kind{Name: "measure", Doc: "Sample Prometheus metrics while nested steps run, chart them and assert on them; at plan level, while the plan's steps run.", New: func() engine.Spec { return &MeasureStepSpec{} }, Detail: &MeasureDetail{}, Beside: true, Access: measureAccess},
		engine.Kind{Name: "exec", Doc: "Run a command in a container of one pod, or of every matching pod; outputs over results (stdout, stderr, exitCode per pod).", New: func() engine.Spec { return &ExecSpec{} }, Binds: execBinds, Detail: &ExecDetail{}, Access: execAccess},
		engine.Kind{Name: "command", Doc: "Run a program on this machine (only with --allow-commands); outputs over result (stdout, stderr, exitCode).", New: func() engine.Spec { return &CommandSpec{} }, Binds: commandBinds, Detail: &CommandDetail{}, Local: true},
		engine.Kind{Name: "sleep", Doc: "Pause for a duration.", New: func() engine.Spec { return new(SleepSpec) }},
	)
}
