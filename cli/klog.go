package cli

import (
	"github.com/go-logr/logr/funcr"
	"github.com/rs/zerolog"
	"k8s.io/klog/v2"
)

// routeKlog sends client-go's own log lines (klog) to log at debug level
// rather than raw to stderr: a cancelled run otherwise prints one
// `"Unexpected error when reading response body" err="context canceled"`
// per request in flight, and a warning per deprecated kind listed.
func routeKlog(log zerolog.Logger) {
	klog.SetLogger(funcr.New(func(prefix, args string) {
		log.Debug().Str("from", "client-go").Msg(args)
	}, funcr.Options{}))
}
