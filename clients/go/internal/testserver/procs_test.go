package testserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A process named as each Node line names its main thread is found as Node through /proc,
// and one that is not Node is not. (A process's name is its executable's, cut to 15 bytes.)
func TestIsNodeKnowsEveryNodeLinesName(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, want := range map[string]bool{
		"node":            true,
		"MainThread":      true, // Node 22 and 24
		"node-MainThread": true, // Node 26
		"nodecell":        false,
		"qemu-system-x86": false,
	} {
		link := filepath.Join(dir, name)
		if err := os.Symlink(sleep, link); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(link, "30")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p, found := ReadProc(cmd.Process.Pid)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if !found || p.Comm != name {
			t.Fatalf("ReadProc of a process named %q: %+v, %v", name, p, found)
		}
		if IsNode(p) != want {
			t.Errorf("IsNode(%q) = %v, want %v", name, !want, want)
		}
	}
}

// A zygote (started with --zygote=, below none that was), its fork server (a process with
// that command line whose parent is the zygote) and a sandbox below the server (another
// command line) are told apart through /proc.
func TestIsForkServerIsTheZygotesChildWithItsCommandLine(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	// zygote: sh … --zygote=z; its child, the "server": sh … --zygote=s; below it: sleep.
	cmd := exec.Command(sh, "-c", `"$0" -c 'sleep 30; true' --zygote=s & wait`, sh, "--zygote=z")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for pid := range Scan() {
			if p, ok := ReadProc(pid); ok && isBelow(pid, cmd.Process.Pid) && p.Comm == "sleep" {
				_ = syscallKill(pid)
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	zygote := cmd.Process.Pid
	var server, sandbox int
	for i := 0; i < 200 && sandbox == 0; i++ {
		for pid, p := range Scan() {
			if p.PPID == zygote {
				server = pid
			}
			if server != 0 && p.PPID == server {
				sandbox = pid
			}
		}
		if sandbox == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	if sandbox == 0 {
		t.Fatal("the test's process tree did not start")
	}
	procs := Scan()
	for pid, want := range map[int][2]bool{zygote: {true, false}, server: {false, true}, sandbox: {false, false}} {
		if got := [2]bool{IsZygote(procs, pid), IsForkServer(procs, pid)}; got != want {
			t.Errorf("pid %d: IsZygote, IsForkServer = %v, want %v", pid, got, want)
		}
	}
}

// isBelow reports whether pid descends from root.
func isBelow(pid, root int) bool {
	procs := Scan()
	for cur := pid; cur > 1; cur = procs[cur].PPID {
		if cur == root {
			return true
		}
		if _, ok := procs[cur]; !ok {
			return false
		}
	}
	return false
}

func syscallKill(pid int) error {
	return syscall.Kill(pid, syscall.SIGKILL)
}
