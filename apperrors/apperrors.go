// Package apperrors holds mdc's typed application errors. Activities return
// them so workflows (and operators reading the Web UI) can tell bad input and
// permanent faults, which no retry fixes, from transient ones.
package apperrors

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Error types, as they appear in Temporal's ApplicationError.Type. They are
// part of mdc's interface: workflows and retry policies match on them.
const (
	// TypeBadInput: the request can never succeed as given (unknown site,
	// malformed address, value out of range).
	TypeBadInput = "BadInput"
	// TypeNotFound: a named object (VM, server, zone, snapshot) does not exist.
	TypeNotFound = "NotFound"
	// TypeAuth: credentials were rejected; retrying with the same ones cannot help.
	TypeAuth = "AuthFailed"
	// TypeUnavailable: a component did not answer or refused the connection;
	// retryable, it may come back.
	TypeUnavailable = "Unavailable"
	// TypeConflict: the system is in a state that forbids the operation
	// (e.g. a server still has sessions); retryable.
	TypeConflict = "Conflict"
	// TypeRejected: the component refused the change permanently (nginx -t
	// failed, HAProxy rejected a command).
	TypeRejected = "Rejected"
	// TypeReplicaLag: a replica is further behind than the caller's RPO bound.
	TypeReplicaLag = "ReplicaLagTooHigh"
	// TypeTimeout: a wait (for an IP, a drain, a GTID) passed its deadline.
	TypeTimeout = "Timeout"
)

// BadInput is a non-retryable error for input that can never succeed.
func BadInput(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), TypeBadInput, nil)
}

// NotFound is a non-retryable error for a missing named object.
func NotFound(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), TypeNotFound, nil)
}

// Auth is a non-retryable error for rejected credentials. The message must
// never contain the credentials themselves.
func Auth(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), TypeAuth, nil)
}

// Rejected is a non-retryable error for a change the component refused.
func Rejected(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), TypeRejected, nil)
}

// Unavailable is a retryable error for a component that did not answer.
func Unavailable(cause error, format string, args ...any) error {
	return temporal.NewApplicationErrorWithCause(fmt.Sprintf(format, args...), TypeUnavailable, cause)
}

// Conflict is a retryable error for a state that forbids the operation now.
func Conflict(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), TypeConflict)
}

// Timeout is a retryable error for a wait that passed its deadline.
func Timeout(format string, args ...any) error {
	return temporal.NewApplicationError(fmt.Sprintf(format, args...), TypeTimeout)
}

// ReplicaLag is a non-retryable error carrying the measured lag in seconds
// as its details, so a workflow can record it as the RPO it refused.
func ReplicaLag(lagSeconds, maxSeconds float64) error {
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("replica is %.3fs behind the primary, more than the allowed RPO of %.3fs; promote with force to accept the data loss", lagSeconds, maxSeconds),
		TypeReplicaLag, nil, lagSeconds)
}

// TypeOf returns the application error type of err, or "" if it has none.
func TypeOf(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return ae.Type()
	}
	return ""
}

// Is reports whether err is an application error of type typ.
func Is(err error, typ string) bool { return TypeOf(err) == typ }
