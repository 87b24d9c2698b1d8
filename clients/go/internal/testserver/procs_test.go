package testserver

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
