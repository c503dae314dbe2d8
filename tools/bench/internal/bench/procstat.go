package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// clockTicks is CLK_TCK, the unit of utime and stime in /proc/PID/stat; 100 on
// every Linux the bench runs on.
const clockTicks = 100

// Usage is what a process has used so far.
type Usage struct {
	PeakRSS int64   // bytes: VmHWM, the high-water mark of resident memory
	CPU     float64 // seconds of user and system time
}

// readUsage reads the usage of a running process from /proc.
func readUsage(pid int) (Usage, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Usage{}, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Usage{}, err
	}
	hwm, err := parseStatusKB(status, "VmHWM")
	if err != nil {
		return Usage{}, err
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return Usage{}, err
	}
	return Usage{PeakRSS: hwm, CPU: cpu}, nil
}

// parseStatusKB returns the value of a "Name:   1234 kB" line of /proc/PID/status, in bytes.
func parseStatusKB(status []byte, name string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), name+":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("/proc status: %s line %q is not a number of kB", name, sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc status: %s: %w", name, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("/proc status: no %s line", name)
}

// parseStatCPU returns utime+stime of /proc/PID/stat in seconds. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStatCPU(stat []byte) (float64, error) {
	s := string(stat)
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc stat: no command name in %q", s)
	}
	// After ')' come field 3 (state) onwards: utime is field 14, stime 15.
	fields := strings.Fields(s[end+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat: utime %q stime %q are not tick counts", fields[11], fields[12])
	}
	return float64(utime+stime) / clockTicks, nil
}

// services are the local processes of Kafka and ClickHouse, found by their
// command lines, whose CPU the bench reports beside the binaries'.
var services = map[string]func(cmdline string) bool{
	"kafka": func(c string) bool { return strings.Contains(c, "kafka.Kafka") },
	"clickhouse": func(c string) bool {
		return strings.Contains(c, "clickhouse-server") || strings.Contains(c, "clickhouse server")
	},
}

// servicePIDs finds the local processes of Kafka and ClickHouse that the run
// talks to: those listening on the ports of addrs (service name → host:port).
// Only these count, not a local cluster's other brokers and servers; a
// service whose listener is not found (not local, or not ours to see) is
// left to serviceCPU's command-line match.
func servicePIDs(addrs map[string]string) map[string][]int {
	out := map[string][]int{}
	for name, addr := range addrs {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			continue
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			continue
		}
		if pids := listenerPIDs(p); len(pids) > 0 {
			out[name] = pids
		}
	}
	return out
}

// serviceCPU returns, per service, the CPU seconds its local processes have
// used so far: the processes pids names, or else every process whose command
// line services matches; a service with no local process is absent.
func serviceCPU(pids map[string][]int) map[string]float64 {
	out := cpuOf(pids)
	for name, cpu := range matchedCPU() {
		if _, ok := pids[name]; !ok {
			out[name] = cpu
		}
	}
	return out
}

// matchedCPU returns, per service, the CPU seconds of every local process
// whose command line services matches.
func matchedCPU() map[string]float64 {
	out := map[string]float64{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		line := string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		for name, match := range services {
			if !match(line) {
				continue
			}
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				if cpu, err := parseStatCPU(stat); err == nil {
					out[name] += cpu
				}
			}
		}
	}
	return out
}

// listenerPIDs returns the processes with a socket listening on TCP port
// (IPv4 or IPv6), from /proc/net/tcp* and the processes' descriptors.
func listenerPIDs(port int) []int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			// sl local_address rem_address st ... inode: state 0A is LISTEN.
			if len(fields) < 10 || fields[3] != "0A" {
				continue
			}
			_, hexPort, ok := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); !ok || err != nil || int(p) != port {
				continue
			}
			inodes["socket:["+fields[9]+"]"] = true
		}
	}
	if len(inodes) == 0 {
		return nil
	}
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		for _, fd := range fds {
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[link] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// cpuOf sums the CPU seconds of pids, per service name.
func cpuOf(pids map[string][]int) map[string]float64 {
	out := map[string]float64{}
	for name, ps := range pids {
		for _, pid := range ps {
			if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
				if cpu, err := parseStatCPU(stat); err == nil {
					out[name] += cpu
				}
			}
		}
	}
	return out
}

// machineBusy returns the CPU seconds every core of the machine spent busy so
// far (everything but idle and iowait), from /proc/stat.
func machineBusy() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	fields := strings.Fields(line)
	if len(fields) < 6 || fields[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: first line %q", line)
	}
	var busy int64
	for i, f := range fields[1:] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %q: %w", f, err)
		}
		if i == 3 || i == 4 || i >= 8 { // idle, iowait; guest times are already in user
			continue
		}
		busy += n
	}
	return float64(busy) / clockTicks, nil
}
