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
