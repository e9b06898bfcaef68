// Command mdc automates a multi-site micro data centre with durable Temporal
// workflows. See `mdc --help` and the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/microdc/mdc/config"
	"github.com/microdc/mdc/internal/cli"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mdc: invalid configuration: %v\n(see `mdc config --help` for every variable)\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.Execute(ctx, cfg, os.Args[1:], os.Stdout, os.Stderr))
}
