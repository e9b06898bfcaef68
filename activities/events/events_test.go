package events

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/apperrors"
	"github.com/microdc/mdc/embedded"
)

func startNATS(t *testing.T) *embedded.NATS {
	t.Helper()
	n, err := embedded.StartNATS(embedded.NATSOptions{})
	require.NoError(t, err)
	t.Cleanup(n.Stop)
	return n
}

func newActivities(t *testing.T, url string) *Activities {
	t.Helper()
	a, err := New(context.Background(), Options{URL: url, Timeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { Close(a) })
	return a
}

func TestPublishDeliversTheEnvelopeOnceEvenWhenRetried(t *testing.T) {
	n := startNATS(t)
	a := newActivities(t, n.URL)
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	data, err := NewEvent("failover-uk/run-1/outcome", "failover.failed-over", "uk", at, map[string]any{"target": "us", "rto_seconds": 12.5})
	require.NoError(t, err)
	ctx := context.Background()
	subject := FailoverSubject("failed-over")

	r1, err := a.Publish(ctx, PublishInput{Subject: subject, Data: data})
	require.NoError(t, err)
	require.Equal(t, DefaultStream, r1.Stream)
	require.False(t, r1.Duplicate)
	r2, err := a.Publish(ctx, PublishInput{Subject: subject, Data: data})
	require.NoError(t, err)
	require.True(t, r2.Duplicate, "same event ID: the stream keeps one copy")

	nc, err := nats.Connect(n.URL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, DefaultStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)
	msg, err := s.GetMsg(ctx, r1.Sequence)
	require.NoError(t, err)
	require.Equal(t, subject, msg.Subject)
	var ev Event
	require.NoError(t, json.Unmarshal(msg.Data, &ev))
	require.Equal(t, 1, ev.Version)
	require.Equal(t, "failover-uk/run-1/outcome", ev.ID)
	require.Equal(t, "failover.failed-over", ev.Type)
	require.Equal(t, "uk", ev.Site)
	require.True(t, at.Equal(ev.ObservedAt))
	require.JSONEq(t, `{"target":"us","rto_seconds":12.5}`, string(ev.Payload))
}

func TestNewKeepsAnExistingStreamAsConfigured(t *testing.T) {
	n := startNATS(t)
	nc, err := nats.Connect(n.URL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: DefaultStream, Subjects: []string{"mdc.events.failover.>"}, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)

	a := newActivities(t, n.URL)
	s, err := js.Stream(context.Background(), DefaultStream)
	require.NoError(t, err)
	require.Equal(t, []string{"mdc.events.failover.>"}, s.CachedInfo().Config.Subjects)

	data, err := NewEvent("e1", "heartbeat.missed", "uk", time.Now(), nil)
	require.NoError(t, err)
	_, err = a.Publish(context.Background(), PublishInput{Subject: "mdc.events.heartbeat.missed", Data: data})
	require.Error(t, err)
	require.Equal(t, apperrors.TypeRejected, apperrors.TypeOf(err), "no stream takes the subject: %v", err)
	require.Contains(t, err.Error(), "no JetStream stream takes this subject")
}

func TestPublishRejectsBadSubjectsAndEnvelopes(t *testing.T) {
	n := startNATS(t)
	a := newActivities(t, n.URL)
	good, err := NewEvent("e1", "failover.refused", "uk", time.Now(), nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		subject string
		data    string
		want    string
	}{
		{"failover.done", string(good), `start with "mdc.events."`},
		{"mdc.events.", string(good), `start with "mdc.events."`},
		{"mdc.events.failover.*", string(good), "wildcards"},
		{"mdc.events.fail over", string(good), "without spaces"},
		{"mdc.events.failover.refused", "not json", "not an event envelope"},
		{"mdc.events.failover.refused", `{"version":1,"type":"x"}`, "needs version >= 1, id and type"},
	} {
		_, err := a.Publish(context.Background(), PublishInput{Subject: tc.subject, Data: json.RawMessage(tc.data)})
		require.Error(t, err, tc.subject)
		require.Equal(t, apperrors.TypeBadInput, apperrors.TypeOf(err), tc.subject)
		require.Contains(t, err.Error(), tc.want)
	}
}

func TestPublishToAStoppedServerIsUnavailable(t *testing.T) {
	n, err := embedded.StartNATS(embedded.NATSOptions{})
	require.NoError(t, err)
	a := newActivities(t, n.URL)
	n.Stop()
	data, err := NewEvent("e2", "failover.failed", "uk", time.Now(), nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = a.Publish(ctx, PublishInput{Subject: FailoverSubject("failed"), Data: data})
	require.Error(t, err)
	require.Equal(t, apperrors.TypeUnavailable, apperrors.TypeOf(err), "%v", err)
}

func TestNewFailsClearlyWithoutAServer(t *testing.T) {
	_, err := New(context.Background(), Options{})
	require.ErrorContains(t, err, "no NATS URL")
	port, err := embedded.FreePort("127.0.0.1")
	require.NoError(t, err)
	_, err = New(context.Background(), Options{URL: "nats://127.0.0.1:" + itoa(port), Timeout: time.Second})
	require.ErrorContains(t, err, "connect to NATS")
}

func itoa(i int) string { return strconv.Itoa(i) }
