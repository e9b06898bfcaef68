//go:build tools

// Package deps pins modules the tree will import as it grows, so that
// concurrent work does not race on go.mod. Removed once all are imported.
package deps

import (
	_ "github.com/go-sql-driver/mysql"
	_ "github.com/gosnmp/gosnmp"
	_ "github.com/kelseyhightower/envconfig"
	_ "github.com/miekg/dns"
	_ "github.com/nats-io/nats.go"
	_ "github.com/nats-io/nats.go/jetstream"
	_ "github.com/spf13/cobra"
	_ "github.com/stretchr/testify/require"
	_ "github.com/vmware/govmomi"
	_ "github.com/vmware/govmomi/simulator"
	_ "go.temporal.io/sdk/client"
	_ "go.temporal.io/sdk/testsuite"
	_ "go.temporal.io/sdk/worker"
	_ "go.temporal.io/sdk/workflow"
	_ "gopkg.in/yaml.v3"
)
