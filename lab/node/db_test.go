package node_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/microdc/mdc/lab/node"
	"github.com/microdc/mdc/lab/proc"
)

const dbAddr = "127.53.0.1:3306"

// startMariaDB runs a throwaway mariadbd on dbAddr with database mdc and a
// user app that, like a real application account, has no SUPER privilege
// (so read_only applies to it). It returns a root handle and the app DSN.
func startMariaDB(t *testing.T) (root *sql.DB, appDSN string) {
	t.Helper()
	dir := t.TempDir()
	data, sock, logPath := filepath.Join(dir, "data"), filepath.Join(dir, "mysqld.sock"), filepath.Join(dir, "mariadbd.log")
	// Small InnoDB files: the default ones make install and start slower.
	small := []string{"--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M", "--innodb-data-file-path=ibdata1:4M:autoextend"}
	install := exec.Command("mariadb-install-db", append([]string{"--no-defaults", "--datadir=" + data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db"}, small...)...)
	out, err := install.CombinedOutput()
	require.NoError(t, err, "mariadb-install-db (Debian package mariadb-server) failed:\n%s", out)

	p, err := proc.Start("mariadbd", logPath, nil, append([]string{"mariadbd", "--no-defaults", "--datadir=" + data, "--user=root",
		"--socket=" + sock, "--bind-address=127.53.0.1", "--port=3306", "--pid-file=" + filepath.Join(dir, "pid"),
		"--skip-log-bin", "--skip-name-resolve"}, small...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Stop(15 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.WaitTCP(ctx, dbAddr))

	root, err = sql.Open("mysql", "root@unix("+sock+")/")
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	for _, q := range []string{
		"CREATE DATABASE mdc",
		"CREATE USER 'app'@'%' IDENTIFIED BY '" + password + "'",
		"GRANT ALL ON mdc.* TO 'app'@'%'",
	} {
		_, err := root.Exec(q)
		require.NoError(t, err, q)
	}
	return root, fmt.Sprintf("app:%s@tcp(%s)/mdc", password, dbAddr)
}

type visitReply struct {
	ID, Count int64
	DB, Error string
}

func visit(t *testing.T, base string) (int, visitReply) {
	t.Helper()
	resp, body := get(t, base+"/db")
	require.NotContains(t, body, password)
	var rep visitReply
	require.NoError(t, json.Unmarshal([]byte(body), &rep), body)
	return resp.StatusCode, rep
}

func TestDatabaseWriteAndReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real mariadbd")
	}
	root, dsn := startMariaDB(t)
	log, logs := testLogger()
	n1 := startNode(t, node.Options{Name: "uk-web-1", Site: "uk", IP: "127.53.0.210", HTTPPort: httpPort, SNMPPort: snmpPort, DSN: dsn, Logger: log})
	startNode(t, node.Options{Name: "uk-web-2", Site: "uk", IP: "127.53.0.211", HTTPPort: httpPort, SNMPPort: snmpPort, DSN: dsn, Logger: log})

	// The first visit creates the table; ids and the count grow across nodes.
	code, rep := visit(t, "http://127.53.0.210:8080")
	require.Equal(t, http.StatusOK, code, rep.Error)
	require.Equal(t, visitReply{ID: 1, Count: 1, DB: "ok"}, rep)
	code, rep = visit(t, "http://127.53.0.211:8080")
	require.Equal(t, http.StatusOK, code, rep.Error)
	require.Equal(t, visitReply{ID: 2, Count: 2, DB: "ok"}, rep)
	var node2, site string
	require.NoError(t, root.QueryRow("SELECT node, site FROM mdc.visits WHERE id = 2").Scan(&node2, &site))
	require.Equal(t, []string{"uk-web-2", "uk"}, []string{node2, site})
	require.Equal(t, node.DBOK, n1.Info().DB)

	// A fenced primary or a replica: writes fail with a clear 503, the
	// node stays healthy and its health header shows why.
	_, err := root.Exec("SET GLOBAL read_only = 1")
	require.NoError(t, err)
	code, rep = visit(t, "http://127.53.0.210:8080")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, node.DBReadOnly, rep.DB)
	require.Contains(t, rep.Error, "database at "+dbAddr+" is read-only")
	resp, _ := get(t, "http://127.53.0.210:8080/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, node.DBReadOnly, resp.Header.Get(node.HeaderDB))

	// The background probe notices the database is writable again.
	_, err = root.Exec("SET GLOBAL read_only = 0")
	require.NoError(t, err)
	eventually(t, 10*time.Second, "health reports the database ok again", func() bool {
		resp, _ := get(t, "http://127.53.0.210:8080/healthz")
		return resp.Header.Get(node.HeaderDB) == node.DBOK
	})
	code, rep = visit(t, "http://127.53.0.210:8080")
	require.Equal(t, http.StatusOK, code, rep.Error)
	require.Equal(t, int64(3), rep.Count)
	require.NotContains(t, logs.String(), password)
}

// TestDatabaseHangingDoesNotHangHealth points a node at a server that
// accepts connections and never speaks: /db gives up after the 2 s bound,
// and health checks keep answering at once meanwhile.
func TestDatabaseHangingDoesNotHangHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.53.0.2:3306")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	startNode(t, node.Options{Name: "uk-web-6", Site: "uk", IP: "127.53.0.212", HTTPPort: httpPort, SNMPPort: snmpPort,
		DSN: "app:" + password + "@tcp(127.53.0.2:3306)/mdc"})

	done := make(chan struct{})
	var code int
	var rep visitReply
	start := time.Now()
	go func() {
		defer close(done)
		resp, err := client.Get("http://127.53.0.212:8080/db")
		if err != nil {
			return
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		_ = json.NewDecoder(resp.Body).Decode(&rep)
	}()
	// Health answers while /db is still waiting on the database (generous
	// bounds: the machine may be busy; waiting on the database takes 2 s).
	for range 5 {
		t0 := time.Now()
		resp, _ := get(t, "http://127.53.0.212:8080/healthz")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Less(t, time.Since(t0), time.Second, "health must not wait on the database")
	}
	select {
	case <-done:
		t.Fatalf("/db finished after %v, before the health checks; it should wait 2s on the hung database", time.Since(start))
	default:
	}
	<-done
	elapsed := time.Since(start)
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, node.DBDown, rep.DB)
	require.Equal(t, "database at 127.53.0.2:3306 did not answer within 2s", rep.Error)
	require.Less(t, elapsed, 3500*time.Millisecond)
	t.Logf("/db against a hanging database answered 503 after %v: %s", elapsed, rep.Error)
}
