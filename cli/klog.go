package cli

import (
	"fmt"

	"github.com/go-logr/logr"
	"github.com/rs/zerolog"
	"k8s.io/klog/v2"
)

// routeKlog sends what client-go logs through klog (e.g. "Unexpected error
// when reading response body", throttling notices) to log, so that with
// --log-format json every line on stderr is JSON. klog's Info lines are
// debug here, and so are its errors: they are client-go's, not runner's.
func routeKlog(log zerolog.Logger) {
	klog.SetLogger(logr.New(&klogSink{log: log.With().Str("from", "client-go").Logger()}))
}

// klogSink is a logr.LogSink writing to zerolog.
type klogSink struct {
	log  zerolog.Logger
	name string
}

func (s *klogSink) Init(logr.RuntimeInfo) {}

func (s *klogSink) Enabled(level int) bool { return s.log.Debug().Enabled() }

func (s *klogSink) Info(level int, msg string, kv ...any) {
	s.fields(s.log.Debug(), kv).Msg(msg)
}

// Error is debug too: client-go's errors reach runner as the errors of
// its requests, which runner reports itself; the ones klog logs on its own
// are mostly requests cut short on purpose ("Unexpected error when reading
// response body" err="context canceled" after Ctrl-C).
func (s *klogSink) Error(err error, msg string, kv ...any) {
	s.fields(s.log.Debug().Err(err), kv).Msg(msg)
}

func (s *klogSink) fields(e *zerolog.Event, kv []any) *zerolog.Event {
	if s.name != "" {
		e = e.Str("logger", s.name)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		e = e.Interface(fmt.Sprint(kv[i]), kv[i+1])
	}
	return e
}

func (s *klogSink) WithValues(kv ...any) logr.LogSink {
	ctx := s.log.With()
	for i := 0; i+1 < len(kv); i += 2 {
		ctx = ctx.Interface(fmt.Sprint(kv[i]), kv[i+1])
	}
	return &klogSink{log: ctx.Logger(), name: s.name}
}

func (s *klogSink) WithName(name string) logr.LogSink {
	if s.name != "" {
		name = s.name + "." + name
	}
	return &klogSink{log: s.log, name: name}
}
