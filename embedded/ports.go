package embedded

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"syscall"
)

// FreePort asks the kernel for an unused TCP port on ip.
func FreePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s: %w", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PortInUseError says which port is taken and which flag moves it.
type PortInUseError struct {
	Addr string
	What string
	Flag string
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("%s cannot listen on %s: the port is already in use (is another mdc dev running?); choose another with %s", e.What, e.Addr, e.Flag)
}

// CheckPortFree returns a *PortInUseError when ip:port cannot be bound, so
// that `mdc dev` fails before starting anything, naming the flag to change.
func CheckPortFree(ip string, port int, what, flag string) error {
	addr := net.JoinHostPort(ip, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return &PortInUseError{Addr: addr, What: what, Flag: flag}
		}
		return fmt.Errorf("%s cannot listen on %s: %w", what, addr, err)
	}
	return l.Close()
}
