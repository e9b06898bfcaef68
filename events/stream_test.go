package events

import (
	"context"
	"errors"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func startJS(t *testing.T) jetstream.JetStream {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an embedded NATS server")
	}
	// nats-server itself, not embedded.StartNATS: package embedded also
	// holds the Temporal server, and `make fuzz` builds this package's
	// tests with every dependency instrumented, which the Temporal
	// server's ~1,600 packages turn from seconds into many minutes.
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	require.NoError(t, err)
	go srv.Start()
	require.True(t, srv.ReadyForConnections(10*time.Second), "nats-server ready")
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return js
}

func TestEnsureStreamsIdempotentAndUpgrades(t *testing.T) {
	js := startJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Another component may have created MDC_EVENTS without limits first.
	_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: Stream, Subjects: []string{SubjectPrefix + ">"}, Storage: jetstream.FileStorage})
	require.NoError(t, err)
	require.NoError(t, EnsureStreams(ctx, js))
	require.NoError(t, EnsureStreams(ctx, js))
	s, err := js.Stream(ctx, Stream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, MaxAge, cfg.MaxAge)
	require.EqualValues(t, MaxBytes, cfg.MaxBytes)
	require.Equal(t, DuplicateWindow, cfg.Duplicates)
	_, err = js.Stream(ctx, DeadLetterStream)
	require.NoError(t, err)
}

func TestPublishDedupsByID(t *testing.T) {
	js := startJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, EnsureStreams(ctx, js))
	ev := validLoad()
	dup, err := Publish(ctx, js, ev)
	require.NoError(t, err)
	require.False(t, dup)
	dup, err = Publish(ctx, js, ev)
	require.NoError(t, err)
	require.True(t, dup)
	ev.ID = "ev-2"
	dup, err = Publish(ctx, js, ev)
	require.NoError(t, err)
	require.False(t, dup)
	s, err := js.Stream(ctx, Stream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs)
	m, err := s.GetLastMsgForSubject(ctx, Subject(TypeNodeLoad, "uk"))
	require.NoError(t, err)
	got, err := Decode(m.Data)
	require.NoError(t, err)
	require.Equal(t, "ev-2", got.ID)

	bad := validLoad()
	bad.Site = ""
	_, err = Publish(ctx, js, bad)
	var se *Error
	require.True(t, errors.As(err, &se))
}

func TestDeadLetterKeepsBytesAndReason(t *testing.T) {
	js := startJS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, EnsureStreams(ctx, js))
	reason := errors.New("event: type: \"x\" is not\na known event type")
	require.NoError(t, DeadLetter(ctx, js, []byte("garbage"), "mdc.events.x.uk", 7, reason))
	require.NoError(t, DeadLetter(ctx, js, []byte("garbage"), "mdc.events.x.uk", 7, reason))
	s, err := js.Stream(ctx, DeadLetterStream)
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs, "a re-dead-lettered message is stored once")
	m, err := s.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "garbage", string(m.Data))
	require.Equal(t, "event: type: \"x\" is not a known event type", m.Header.Get(HeaderReason))
	require.Equal(t, "mdc.events.x.uk", m.Header.Get(HeaderOriginalSubject))
	require.Equal(t, "7", m.Header.Get(HeaderOriginalSequence))
}
