package embedded

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

func TestTemporalFileDBSurvivesRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := filepath.Join(t.TempDir(), "temporal.db")
	attrs := map[string]enumspb.IndexedValueType{"MdcSite": enumspb.INDEXED_VALUE_TYPE_KEYWORD}
	start := func() *Temporal {
		t0 := time.Now()
		tmp, err := StartTemporal(ctx, TemporalOptions{DatabaseFile: db, Namespace: "default", SearchAttributes: attrs})
		require.NoError(t, err)
		t.Logf("temporal ready in %s", time.Since(t0))
		return tmp
	}
	srv := start()
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "persisted", TaskQueue: "none"}, "Nothing")
	require.NoError(t, err)
	sa, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, sa.CustomAttributes["MdcSite"])
	c.Close()
	srv.Stop()

	// A second start on the same file sees the workflow, and adding a new
	// search attribute to an existing database works.
	attrs["MdcRTOSeconds"] = enumspb.INDEXED_VALUE_TYPE_DOUBLE
	srv = start()
	defer srv.Stop()
	c, err = client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.DescribeWorkflowExecution(ctx, "persisted", "")
	require.NoError(t, err)
	sa, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_DOUBLE, sa.CustomAttributes["MdcRTOSeconds"])
}

func TestNATSJetStreamPersists(t *testing.T) {
	dir := t.TempDir()
	n, err := StartNATS(NATSOptions{StoreDir: dir})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func(url string) {
		nc, err := nats.Connect(url)
		require.NoError(t, err)
		defer nc.Close()
		js, err := jetstream.New(nc)
		require.NoError(t, err)
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Storage: jetstream.FileStorage})
		require.NoError(t, err)
		_, err = js.Publish(ctx, "t.x", []byte("hello"))
		require.NoError(t, err)
	}
	publish(n.URL)
	n.Stop()
	n, err = StartNATS(NATSOptions{StoreDir: dir})
	require.NoError(t, err)
	defer n.Stop()
	nc, err := nats.Connect(n.URL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	s, err := js.Stream(ctx, "T")
	require.NoError(t, err)
	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)
}

func TestCheckPortFreeNamesFlag(t *testing.T) {
	p, err := FreePort("127.0.0.1")
	require.NoError(t, err)
	require.NoError(t, CheckPortFree("127.0.0.1", p, "NATS", "--nats-port"))
	n, err := StartNATS(NATSOptions{Port: p})
	require.NoError(t, err)
	defer n.Stop()
	err = CheckPortFree("127.0.0.1", p, "NATS", "--nats-port")
	var inUse *PortInUseError
	require.ErrorAs(t, err, &inUse)
	require.Contains(t, err.Error(), "--nats-port")
}

func TestTemporalInMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := StartTemporal(ctx, TemporalOptions{Namespace: "default"})
	require.NoError(t, err)
	defer srv.Stop()
	c, err := client.Dial(client.Options{HostPort: srv.Address})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "mem", TaskQueue: "none"}, "Nothing")
	require.NoError(t, err)
}
