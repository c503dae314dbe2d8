package bench

import (
	"bufio"
	"bytes"
	"fmt"
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

// serviceCPU returns, per service, the CPU seconds its local processes have
// used so far; a service with no local process is absent.
func serviceCPU() map[string]float64 {
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
