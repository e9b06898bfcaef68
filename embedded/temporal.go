// Package embedded runs the platform's infrastructure services inside the mdc
// process: a Temporal server with its Web UI and a NATS server with JetStream.
// `mdc dev` and the tests use them; production points mdc at real clusters.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	uiserveroptions "github.com/temporalio/ui-server/v2/server/server_options"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// TemporalOptions says where the embedded Temporal server listens and keeps its data.
type TemporalOptions struct {
	// IP all services bind to; loopback by default.
	IP string
	// GRPCPort is the frontend port clients and workers dial (7233 by default).
	GRPCPort int
	// UIPort is the Web UI port; 0 disables the UI.
	UIPort int
	// DatabaseFile is the SQLite file; empty keeps everything in memory.
	DatabaseFile string
	// Namespace is created on first start (with SearchAttributes registered).
	Namespace string
	// SearchAttributes the workflows set; added on every start so that a newer
	// mdc on an older database gets the attributes it needs.
	SearchAttributes map[string]enumspb.IndexedValueType
	// Logger receives the server's warnings and errors.
	Logger *slog.Logger
	// LogLevel for the server's own log lines; error by default because the
	// server is chatty below that (every client that goes away on shutdown
	// is a warning) and the operator cares about mdc's lines.
	LogLevel string
}

// Temporal is a running embedded Temporal server (and optional Web UI).
type Temporal struct {
	server  temporal.Server
	ui      *uiserver.Server
	opts    TemporalOptions
	uiErr   chan error
	Address string
	UIURL   string
}

const clusterName = "active"

// StartTemporal starts a Temporal server in this process and waits until its
// frontend accepts connections and the namespace and search attributes exist.
func StartTemporal(ctx context.Context, o TemporalOptions) (*Temporal, error) {
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogLevel == "" {
		o.LogLevel = "error"
	}
	if o.GRPCPort == 0 {
		p, err := FreePort(o.IP)
		if err != nil {
			return nil, err
		}
		o.GRPCPort = p
	}
	httpPort, err := FreePort(o.IP)
	if err != nil {
		return nil, err
	}
	conf, err := buildConfig(o, httpPort)
	if err != nil {
		return nil, err
	}
	logger := tlog.NewZapLogger(tlog.BuildZapLogger(tlog.Config{Level: o.LogLevel, Format: "json"}))
	dyn := dynamicconfig.StaticClient{
		// Search attributes added at runtime must be visible at once, not after
		// the cache's refresh interval (the workflows upsert them immediately).
		dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key():      true,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
	}
	hostPort := func(svc string) string {
		return net.JoinHostPort(o.IP, strconv.Itoa(conf.Services[svc].RPC.GRPCPort))
	}
	srv, err := temporal.NewServer(
		temporal.WithConfig(conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
			primitives.FrontendService: static.SingleLocalHost(hostPort("frontend")),
			primitives.MatchingService: static.SingleLocalHost(hostPort("matching")),
			primitives.HistoryService:  static.SingleLocalHost(hostPort("history")),
			primitives.WorkerService:   static.SingleLocalHost(hostPort("worker")),
		}),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("build temporal server: %w", err)
	}
	t := &Temporal{server: srv, opts: o, Address: net.JoinHostPort(o.IP, strconv.Itoa(o.GRPCPort))}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	if err := t.ensureNamespace(ctx); err != nil {
		t.Stop()
		return nil, err
	}
	if o.UIPort > 0 {
		t.startUI()
	}
	return t, nil
}

func buildConfig(o TemporalOptions, httpPort int) (*config.Config, error) {
	sqlConf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.DatabaseFile == "" {
		sqlConf.DatabaseName = "mdc-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		sqlConf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		sqlConf.DatabaseName = o.DatabaseFile
		// WAL with synchronous=normal keeps every commit durable across a
		// process crash while costing one fsync per checkpoint, not per write.
		sqlConf.ConnectAttributes = map[string]string{
			"mode": "rwc", "journal_mode": "wal", "synchronous": "normal",
		}
		if err := os.MkdirAll(filepath.Dir(o.DatabaseFile), 0o700); err != nil {
			return nil, fmt.Errorf("create temporal state dir: %w", err)
		}
	}
	// Single writer: SQLite serialises writes anyway; more connections only
	// produce SQLITE_BUSY under load.
	sqlConf.MaxConns = 1
	sqlConf.MaxIdleConns = 1
	// In memory, the SQLite plugin creates the schema itself on connect;
	// only a new file needs it here.
	if _, err := os.Stat(o.DatabaseFile); o.DatabaseFile != "" && errors.Is(err, os.ErrNotExist) {
		if err := sqliteschema.SetupSchema(sqlConf); err != nil {
			return nil, fmt.Errorf("create temporal schema in %s: %w", o.DatabaseFile, err)
		}
	}
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, nil)
	if err != nil {
		return nil, err
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("create namespace %q: %w", o.Namespace, err)
	}

	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = o.IP
	conf.Persistence.DefaultStore = "sqlite"
	conf.Persistence.VisibilityStore = "sqlite"
	conf.Persistence.NumHistoryShards = 1
	conf.Persistence.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlConf}}
	frontend := net.JoinHostPort(o.IP, strconv.Itoa(o.GRPCPort))
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        clusterName,
		CurrentClusterName:       clusterName,
		ClusterInformation: map[string]cluster.ClusterInformation{clusterName: {
			Enabled:                true,
			InitialFailoverVersion: 1,
			RPCAddress:             frontend,
			HTTPAddress:            net.JoinHostPort(o.IP, strconv.Itoa(httpPort)),
			// A fixed UUID: the server insists on one, and a fixed value
			// keeps the cluster identity stable across restarts.
			ClusterID: "6d63642d-0000-4000-8000-656d62656464",
		}},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for _, svc := range []string{"frontend", "history", "matching", "worker"} {
		var s config.Service
		s.RPC.BindOnIP = o.IP
		if svc == "frontend" {
			s.RPC.GRPCPort = o.GRPCPort
			s.RPC.HTTPPort = httpPort
		} else {
			p, err := FreePort(o.IP)
			if err != nil {
				return nil, err
			}
			s.RPC.GRPCPort = p
		}
		conf.Services[svc] = s
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = frontend
	return &conf, nil
}

// ensureNamespace registers the search attributes the workflows need; it is
// idempotent so every start of a possibly older database converges.
func (t *Temporal) ensureNamespace(ctx context.Context) error {
	if len(t.opts.SearchAttributes) == 0 {
		return nil
	}
	c, err := client.Dial(client.Options{HostPort: t.Address, Namespace: t.opts.Namespace, Logger: quietSDKLogger{}})
	if err != nil {
		return fmt.Errorf("dial embedded temporal at %s: %w", t.Address, err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: t.opts.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range t.opts.SearchAttributes {
		if _, ok := existing.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: t.opts.Namespace, SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}

func (t *Temporal) startUI() {
	ui := uiserver.NewServer(uiserveroptions.WithConfigProvider(&uiconfig.Config{
		Host:                t.opts.IP,
		Port:                t.opts.UIPort,
		TemporalGRPCAddress: t.Address,
		EnableUI:            true,
		DefaultNamespace:    t.opts.Namespace,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		HideLogs:            true,
		// No internet here and none needed: the UI must not phone home.
		DisableNewsFetch: true,
	}))
	t.ui = ui
	t.uiErr = make(chan error, 1)
	t.UIURL = fmt.Sprintf("http://%s", net.JoinHostPort(t.opts.IP, strconv.Itoa(t.opts.UIPort)))
	go func() { t.uiErr <- ui.Start() }()
}

// UIErr reports the Web UI's failure to serve, if it stops on its own.
func (t *Temporal) UIErr() <-chan error { return t.uiErr }

// Stop stops the UI and the server.
func (t *Temporal) Stop() {
	if t.ui != nil {
		t.ui.Stop()
	}
	_ = t.server.Stop()
}
