package realidp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/resetq/resetq/internal/freeport"
)

// process is a server started by this package: its own process group (so
// a wrapper script's children stop with it), killed if the starting process
// dies, its output kept in a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}

	mu      sync.Mutex
	stopped bool
	err     error
}

// startProcess runs name with args and env added to the environment,
// output to logPath.
func startProcess(name, logPath string, env []string, bin string, args ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// waitReady polls ready until it returns nil, the process exits, or
// timeout passes. On failure the process is stopped and the error carries
// the tail of its log.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
		last = ready(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited before it was ready (%v); the end of its log (%s):\n%s", p.name, p.exitErr(), p.logPath, p.logTail(60))
		case <-ctx.Done():
			p.stop()
			return fmt.Errorf("%s was not ready within %s (last check: %v); the end of its log (%s):\n%s", p.name, timeout, last, p.logPath, p.logTail(60))
		case <-tick.C:
		}
	}
}

func (p *process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// stop sends SIGTERM to the process group, then SIGKILL after 15 s. It is
// safe to call more than once.
func (p *process) stop() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		<-p.exited
		return
	}
	p.stopped = true
	p.mu.Unlock()
	pgid := -p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-p.exited
	}
	// A wrapper's children may outlive it by a moment.
	_ = syscall.Kill(pgid, syscall.SIGKILL)
}

// logTail returns the last n lines of the log.
func (p *process) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(log unreadable: " + err.Error() + ")"
	}
	return tail(b, n)
}

func tail(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// copyTail is io.Discard with a record of the last bytes written, for
// commands whose output only matters when they fail.
type copyTail struct {
	mu  sync.Mutex
	buf []byte
}

func (c *copyTail) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > 64<<10 {
		c.buf = c.buf[len(c.buf)-32<<10:]
	}
	return len(p), nil
}

func (c *copyTail) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.TrimSpace(string(c.buf))
}

var _ io.Writer = (*copyTail)(nil)

var errNotReady = errors.New("not ready yet")

// startOnFreePorts starts a server that needs n loopback ports and a
// folder of its own (created here, removed if it never starts): start is
// tried on new ports when another process took one (freeport.Start).
func startOnFreePorts[T any](name string, n int, start func(dir string, attempt int, ports []int) (T, error)) (T, error) {
	var none T
	dir, err := os.MkdirTemp("", "resetq-"+name+"-")
	if err != nil {
		return none, fmt.Errorf("%s: data folder: %w", name, err)
	}
	s, err := freeport.Start(n, 3, func(ports []int, attempt int) (T, error) { return start(dir, attempt, ports) })
	if err != nil {
		os.RemoveAll(dir)
		return none, fmt.Errorf("%s: %w", name, err)
	}
	return s, nil
}
