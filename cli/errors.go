package cli

import "errors"

var (
	// ErrUsage marks bad flags or arguments (exit 2).
	ErrUsage = errors.New("usage error")
	// ErrFailed marks a scenario that ran and failed (exit 1).
	ErrFailed = errors.New("scenario failed")
	// ErrInterrupted marks a run stopped by SIGINT or SIGTERM (exit 130).
	ErrInterrupted = errors.New("interrupted")
)
