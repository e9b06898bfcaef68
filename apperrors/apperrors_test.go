package apperrors

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
)

func TestTypesAndRetryability(t *testing.T) {
	cases := []struct {
		err       error
		typ       string
		retryable bool
	}{
		{BadInput("site %q unknown", "mars"), TypeBadInput, false},
		{NotFound("vm %s", "x"), TypeNotFound, false},
		{Auth("vCenter rejected the credentials"), TypeAuth, false},
		{Rejected("nginx -t failed"), TypeRejected, false},
		{Unavailable(errors.New("refused"), "haproxy at %s", "127.0.0.1:1"), TypeUnavailable, true},
		{Conflict("busy"), TypeConflict, true},
		{Timeout("no IP after 1m"), TypeTimeout, true},
		{ReplicaLag(12.5, 5), TypeReplicaLag, false},
	}
	for _, c := range cases {
		wrapped := fmt.Errorf("context: %w", c.err)
		require.Equal(t, c.typ, TypeOf(wrapped))
		require.True(t, Is(wrapped, c.typ))
		var ae *temporal.ApplicationError
		require.ErrorAs(t, wrapped, &ae)
		require.Equal(t, !c.retryable, ae.NonRetryable(), c.typ)
	}
	require.Equal(t, "", TypeOf(errors.New("plain")))
	var ae *temporal.ApplicationError
	require.ErrorAs(t, ReplicaLag(12.5, 5), &ae)
	var lag float64
	require.NoError(t, ae.Details(&lag))
	require.Equal(t, 12.5, lag)
}
