package faulttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// proc is a process the test started: a NATS node or a breachd stage. It runs in a process
// group of its own, dies with the test process (Pdeathsig) and is killed with its group when
// the test ends; its output goes to a file, whose tail is logged when the test fails.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when it has exited; err is set then
	err  error
}

// startProc starts cmd as the process name, logging to logDir/name.log (appended: a restarted
// process continues its log).
func startProc(t *testing.T, logDir, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: filepath.Join(logDir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "=== %s %s: %v\n", time.Now().UTC().Format(time.RFC3339Nano), name, cmd.Args)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill(t)
		if t.Failed() {
			t.Logf("--- last lines of %s:\n%s", p.log, p.tail(40))
		}
	})
	return p
}

// signal sends sig to the process's group.
func (p *proc) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// kill kills the process group with SIGKILL and waits for the process to exit.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s: still running 30 s after SIGKILL", p.name)
	}
}

// stop asks the process to stop with SIGTERM and waits for it until ctx ends (then kills it).
// It returns the process's exit error.
func (p *proc) stop(ctx context.Context, t *testing.T) error {
	t.Helper()
	p.signal(syscall.SIGTERM)
	if err := p.wait(ctx); err != nil {
		p.kill(t)
		return err
	}
	return p.err
}

// wait waits until the process has exited or ctx ends.
func (p *proc) wait(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%s still running: %w", p.name, ctx.Err())
	}
}

// tail is the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	return string(bytes.Join(lines[max(len(lines)-n, 0):], []byte("\n")))
}
