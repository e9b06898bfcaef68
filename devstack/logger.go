package devstack

import (
	"log/slog"

	"go.temporal.io/sdk/log"
)

// sdkLogger routes the Temporal SDK's log lines into mdc's slog logger.
func sdkLogger(l *slog.Logger) log.Logger { return log.NewStructuredLogger(l) }
