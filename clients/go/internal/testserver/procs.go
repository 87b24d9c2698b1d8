package testserver

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Proc is one process as /proc shows it.
type Proc struct {
	PID   int
	PPID  int
	Comm  string
	State byte
	// CPUTicks is user + system time, in clock ticks.
	CPUTicks uint64
}

// Gone reports whether the process has ended (a zombie has, it only awaits its reaping).
func (p Proc) Gone() bool { return p.State == 'Z' || p.State == 'X' }

// ReadProc reads /proc/<pid>/stat; false when there is no such process.
func ReadProc(pid int) (Proc, bool) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, false
	}
	s := string(raw)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Proc{}, false
	}
	f := strings.Fields(s[end+1:])
	// f[0] state, f[1] ppid, ..., f[11] utime, f[12] stime.
	if len(f) < 13 {
		return Proc{}, false
	}
	p := Proc{PID: pid, Comm: s[open+1 : end], State: f[0][0]}
	p.PPID, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	p.CPUTicks = ut + st
	return p, true
}

// Scan is every process in /proc, by pid.
func Scan() map[int]Proc {
	entries, _ := os.ReadDir("/proc")
	procs := make(map[int]Proc, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := ReadProc(pid); ok {
			procs[pid] = p
		}
	}
	return procs
}

// NodeDescendants is the live `node` processes whose ancestry includes root, each with its
// chain of processes below root (the sandbox's launcher, nsjail, ..., then node itself), and
// the VMMs of microVM sandboxes (whose Node is the guest's, not the host's). A sandbox forked
// from a zygote (the native backend's default) has the chain below its zygote, which
// outlives it; the zygotes themselves are left out.
func NodeDescendants(root int) map[int][]int {
	procs := Scan()
	found := map[int][]int{}
	for pid, p := range procs {
		if !(IsNode(p) || IsVMM(p)) || p.Gone() || IsZygote(procs, pid) || IsForkServer(procs, pid) {
			continue
		}
		chain := []int{pid}
		belowZygote := false
		for cur := p.PPID; cur > 1; cur = procs[cur].PPID {
			if cur == root {
				found[pid] = chain
				break
			}
			if _, ok := procs[cur]; !ok {
				break
			}
			belowZygote = belowZygote || IsZygote(procs, cur) || IsForkServer(procs, cur)
			if !belowZygote {
				chain = append([]int{cur}, chain...)
			}
		}
	}
	return found
}

// IsZygote reports whether pid is a zygote's Node: started with --zygote=, and below no
// process that was (its forks, its fork server and the sandboxes, keep its command line).
func IsZygote(procs map[int]Proc, pid int) bool {
	if !startedAsZygote(pid) {
		return false
	}
	for cur := procs[pid].PPID; cur > 1; cur = procs[cur].PPID {
		if startedAsZygote(cur) {
			return false
		}
		if _, ok := procs[cur]; !ok {
			break
		}
	}
	return true
}

// IsForkServer reports whether pid is a zygote's fork server: a fork of the zygote's Node
// (its command line) whose parent is that Node. It lives as long as its zygote and is the
// parent of every sandbox forked from it, so it is no sandbox's own process.
func IsForkServer(procs map[int]Proc, pid int) bool {
	p, ok := procs[pid]
	return ok && startedAsZygote(pid) && IsZygote(procs, p.PPID)
}

func startedAsZygote(pid int) bool {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	for _, arg := range strings.Split(string(raw), "\x00") {
		if strings.HasPrefix(arg, "--zygote=") {
			return true
		}
	}
	return false
}

// IsNode reports whether p is a Node process: its command is "node", or the name Node gives
// its main thread, which becomes the process's command: "MainThread" (Node 22 and 24 in
// sandboxes) or "node-MainThread" (Node 26).
func IsNode(p Proc) bool {
	return p.Comm == "node" || p.Comm == "MainThread" || p.Comm == "node-MainThread"
}

// IsVMM reports whether p is a microVM sandbox's VMM: QEMU (its command name is cut to 15
// bytes, "qemu-system-x86") or Firecracker.
func IsVMM(p Proc) bool {
	return strings.HasPrefix(p.Comm, "qemu-system") || p.Comm == "firecracker"
}

// AllGone reports whether every process of pids has ended.
func AllGone(pids []int) bool {
	for _, pid := range pids {
		if p, ok := ReadProc(pid); ok && !p.Gone() {
			return false
		}
	}
	return true
}

// ContainerOf is the id of the Docker container whose cgroup holds pid ("" when none): the
// path ends in /docker/<id> (cgroupfs driver) or docker-<id>.scope (systemd driver).
func ContainerOf(pid int) string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(raw), "\n") {
		path := line[strings.LastIndexByte(line, ':')+1:]
		base := path[strings.LastIndexByte(path, '/')+1:]
		if strings.HasPrefix(base, "docker-") && strings.HasSuffix(base, ".scope") {
			return strings.TrimSuffix(strings.TrimPrefix(base, "docker-"), ".scope")
		}
		if strings.HasSuffix(strings.TrimSuffix(path, "/"+base), "/docker") && len(base) == 64 {
			return base
		}
	}
	return ""
}

// Containers is the live processes of every Docker container, by container id.
func Containers() map[string][]int {
	found := map[string][]int{}
	for pid, p := range Scan() {
		if p.Gone() {
			continue
		}
		if id := ContainerOf(pid); id != "" {
			found[id] = append(found[id], pid)
		}
	}
	return found
}

// BusiestContainer is the processes of the container that used the most CPU over the
// interval, and that CPU in clock ticks.
func BusiestContainer(interval time.Duration) ([]int, uint64) {
	before := Containers()
	ticks := map[int]uint64{}
	for _, pids := range before {
		for _, pid := range pids {
			p, _ := ReadProc(pid)
			ticks[pid] = p.CPUTicks
		}
	}
	time.Sleep(interval)
	var best []int
	var bestDelta uint64
	for _, pids := range before {
		var delta uint64
		for _, pid := range pids {
			if p, ok := ReadProc(pid); ok && p.CPUTicks > ticks[pid] {
				delta += p.CPUTicks - ticks[pid]
			}
		}
		if delta > bestDelta {
			best, bestDelta = pids, delta
		}
	}
	return best, bestDelta
}
