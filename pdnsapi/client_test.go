package pdnsapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const secret = "s3cret-key-7d1e"

// fake answers every request with status and body, after checking the key.
func fake(t *testing.T, status int, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-API-Key") != secret {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return NewClient(srv.URL, secret, WithServerID("srv1"), WithTimeout(time.Second))
}

func TestErrorMapping(t *testing.T) {
	ctx := context.Background()

	c := fake(t, 200, "{}")
	bad := NewClient(c.APIURL(), "wrong-"+secret)
	err := bad.Ping(ctx)
	require.ErrorIs(t, err, ErrKeyRejected)
	require.NotContains(t, err.Error(), secret)

	c = fake(t, 422, `{"error": "RRset www.mdc.test. IN A: bad content"}`)
	err = c.ReplaceRRsets(ctx, "mdc.test.", []RRset{{Name: "www.mdc.test.", Type: "A", TTL: 5, Records: []string{"x"}}})
	var ae *APIError
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Equal(t, 422, ae.Status)
	require.Equal(t, "RRset www.mdc.test. IN A: bad content", ae.Message)
	require.Contains(t, ae.Path, "/api/v1/servers/srv1/zones/mdc.test.")

	c = fake(t, 404, `{"error": "Could not find domain 'x.test.'"}`)
	_, _, err = c.GetRRset(ctx, "x.test.", "www.x.test.", "A")
	require.ErrorIs(t, err, ErrZoneNotFound)
	require.ErrorIs(t, c.DeleteRRset(ctx, "x.test.", "www.x.test.", "A"), ErrZoneNotFound)

	// Nothing listens on port 1.
	err = NewClient("http://127.0.0.1:1", secret).Ping(ctx)
	require.ErrorIs(t, err, ErrUnreachable)
	require.NotContains(t, err.Error(), secret)
}

func TestGetRRsetFiltersTheAnswer(t *testing.T) {
	// An older pdns ignores rrset_name and returns the whole zone.
	c := fake(t, 200, `{"name": "mdc.test.", "rrsets": [
		{"name": "mdc.test.", "type": "NS", "ttl": 300, "records": [{"content": "ns1.mdc.test.", "disabled": false}]},
		{"name": "WWW.mdc.test.", "type": "A", "ttl": 30, "records": [{"content": "192.0.2.1", "disabled": false}, {"content": "192.0.2.9", "disabled": true}],
		 "comments": [{"content": "by mdc", "account": "ops", "modified_at": 5}]}]}`)
	rr, found, err := c.GetRRset(context.Background(), "mdc.test.", "www.mdc.test.", "a")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, RRset{Name: "www.mdc.test.", Type: "A", TTL: 30, Records: []string{"192.0.2.1"}, Disabled: []string{"192.0.2.9"},
		Comments: []Comment{{Content: "by mdc", Account: "ops", ModifiedAt: 5}}}, rr)
	_, found, err = c.GetRRset(context.Background(), "mdc.test.", "www.mdc.test.", "AAAA")
	require.NoError(t, err)
	require.False(t, found)
}
