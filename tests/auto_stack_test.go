package tests

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/devstack"
	"github.com/microdc/mdc/embedded"
	"github.com/microdc/mdc/events"
	"github.com/microdc/mdc/lab"
)

// autoStack is `mdc dev` with nobody at the keyboard: the lab, the
// monitors (one per site and the witness) and the trigger, so events alone
// drive the workflows. labc drives the lab through its control API, as
// `mdc lab` does.
type autoStack struct {
	st   *devstack.Stack
	labc *lab.Client
	js   jetstream.JetStream
	seen *eventLog
}

// startAutoStack starts the dev stack with its monitors and its trigger,
// as `mdc dev` runs them, with the lab at 127.base and 127.(base+1).
func startAutoStack(t *testing.T, base int) *autoStack {
	t.Helper()
	ports := make([]int, 2)
	for i := range ports {
		p, err := embedded.FreePort("127.0.0.1")
		require.NoError(t, err)
		ports[i] = p
	}
	plan := lab.DefaultPlan()
	plan.Base = base
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := devstack.Start(ctx, devstack.Options{
		StateDir: dir, GRPCPort: ports[0], UIPort: 0, NATSPort: ports[1], Namespace: "default", Lab: true, Logger: logger,
		LabOptions: lab.Options{Dir: dir + "/lab", Sites: []string{"uk", "us"}, Plan: plan, Zone: "mdc.test.", InitialWeb: 2},
		Monitors:   true,
	})
	require.NoError(t, err)
	t.Cleanup(st.Stop)
	require.Len(t, st.Monitors(), 3, "uk, us and the witness")

	_, running := st.TriggerStats()
	require.True(t, running, "mdc dev runs the trigger")

	nc, err := nats.Connect(st.NATS.URL)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	as := &autoStack{st: st, labc: lab.NewClient(st.Lab.Plan().ControlAddr()), js: js, seen: &eventLog{}}
	as.seen.follow(t, js)
	return as
}

// eventLog is every event in MDC_EVENTS, as the trigger sees them.
type eventLog struct {
	mu  sync.Mutex
	evs []events.Event
}

func (l *eventLog) follow(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, events.Stream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPrefix + ">"}})
	require.NoError(t, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if ev, err := events.Decode(m.Data()); err == nil {
			l.mu.Lock()
			l.evs = append(l.evs, ev)
			l.mu.Unlock()
		}
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
}

// where returns the events of typ about site (and subject, when set).
func (l *eventLog) where(typ, site, subject string) []events.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []events.Event
	for _, ev := range l.evs {
		if ev.Type == typ && ev.Site == site && (subject == "" || ev.Subject == subject) {
			out = append(out, ev)
		}
	}
	return out
}
