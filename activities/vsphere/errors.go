package vsphere

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strings"

	"github.com/vmware/govmomi/fault"
	"github.com/vmware/govmomi/vim25/types"
	"go.temporal.io/sdk/temporal"

	"github.com/microdc/mdc/apperrors"
)

// classify turns an error from govmomi into a typed application error that
// says what failed and where. Errors that are already typed pass through.
//
//   - no answer (refused, reset, timed out, deadline passed) → Unavailable
//   - rejected credentials or a session that cannot be renewed → Auth
//   - missing privilege, invalid spec, unsupported operation → Rejected
//   - an object that vanished → NotFound
//   - a busy or wrong-state object → Conflict (retryable)
//   - any other vSphere fault → a plain retryable error naming the fault
func (s *site) classify(ctx context.Context, what string, err error) error {
	if err == nil || apperrors.TypeOf(err) != "" {
		return err
	}
	detail := err.Error()
	if name := faultName(err); name != "error" && !strings.Contains(detail, name) {
		detail += " (" + name + ")"
	}
	msg := fmt.Sprintf("%s: %s: %s", s.where(), what, detail)
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &hostErr):
		return apperrors.Rejected("%s: the TLS certificate was not trusted: install the vCenter's CA on the worker or set insecure: true for a lab", msg)
	case isNetErr(ctx, err):
		return apperrors.Unavailable(err, "%s: vCenter did not answer; it may be down or unreachable, retry later", msg)
	case fault.Is(err, &types.InvalidLogin{}), fault.Is(err, &types.NotAuthenticated{}):
		return apperrors.Auth("%s: vCenter rejected the session of user %q: check the site's credentials", msg, s.cfg.Username)
	case fault.Is(err, &types.NoPermission{}):
		return apperrors.Rejected("%s: user %q lacks a privilege: grant it in vCenter", msg, s.cfg.Username)
	case fault.Is(err, &types.ManagedObjectNotFound{}), fault.Is(err, &types.FileNotFound{}):
		return apperrors.NotFound("%s", msg)
	case isAny(err, &types.InvalidArgument{}, &types.InvalidDeviceSpec{}, &types.InvalidName{},
		&types.NotSupported{}, &types.InvalidRequest{}, &types.MethodNotFound{}, &types.InvalidType{}):
		return apperrors.Rejected("%s", msg)
	case isAny(err, &types.InvalidState{}, &types.InvalidPowerState{}, &types.TaskInProgress{},
		&types.ResourceInUse{}, &types.ConcurrentAccess{}, &types.InsufficientResourcesFault{},
		&types.HostNotConnected{}, &types.InvalidHostState{}, &types.FileAlreadyExists{}):
		return apperrors.Conflict("%s: the object is busy, short of resources or in the wrong state for this; retry later", msg)
	case isAny(err, &types.SystemError{}, &types.SystemErrorFault{}, &types.HostCommunication{}, &types.RequestCanceled{}):
		return apperrors.Unavailable(err, "%s: vCenter or a host failed transiently; retry later", msg)
	}
	return fmt.Errorf("%s: %s (vSphere fault %s): %w", s.where(), what, faultName(err), err)
}

// isAny reports whether err carries a fault of one of the targets' types.
func isAny(err error, targets ...types.BaseMethodFault) bool {
	for _, t := range targets {
		if fault.Is(err, t) {
			return true
		}
	}
	return false
}

// isNetErr reports whether err means the vCenter did not answer: a
// connection refused, reset or cut short, a timeout, or the caller's
// deadline passing while waiting.
func isNetErr(ctx context.Context, err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return true
	case ctx.Err() != nil && faultName(err) == "error":
		return true // cut off by the deadline, whatever the transport said
	case errors.As(err, &opErr), errors.As(err, &netErr), errors.As(err, &urlErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	return false
}

// faultName is the vSphere fault type carried by err, e.g. "SystemError",
// or "error" when it carries none.
func faultName(err error) string {
	name := "error"
	fault.In(err, func(f types.BaseMethodFault, _ string, _ []types.LocalizableMessage) bool {
		name = strings.TrimSuffix(reflect.TypeOf(f).Elem().Name(), "Fault")
		return true
	})
	return name
}

// nameTaken is the non-retryable conflict of a name already used by an
// object mdc did not make (or made for another purpose): retrying cannot
// free the name, an operator or the workflow must pick another.
func nameTaken(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), apperrors.TypeConflict, nil)
}
