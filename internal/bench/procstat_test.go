package bench

import (
	"os"
	"strings"
	"testing"
)

const statusSample = `Name:	enricher
Umask:	0022
State:	S (sleeping)
Pid:	4242
VmPeak:	 1300000 kB
VmSize:	 1250000 kB
VmHWM:	   91234 kB
VmRSS:	   80001 kB
Threads:	9
`

func TestParseStatusKBReadsTheNamedLineInBytes(t *testing.T) {
	hwm, err := parseStatusKB([]byte(statusSample), "VmHWM")
	if err != nil || hwm != 91234*1024 {
		t.Errorf("VmHWM = %d, %v; want %d bytes", hwm, err, 91234*1024)
	}
	rss, err := parseStatusKB([]byte(statusSample), "VmRSS")
	if err != nil || rss != 80001*1024 {
		t.Errorf("VmRSS = %d, %v; want %d bytes (not the VmHWM line)", rss, err, 80001*1024)
	}
}

func TestParseStatusKBRejectsMissingAndMalformedLines(t *testing.T) {
	tests := []struct{ name, status string }{
		{"a kernel thread has no VmHWM line", "Name:\tkthreadd\nState:\tS (sleeping)\n"},
		{"a value without its unit", "VmHWM:\t1234\n"},
		{"a value in another unit", "VmHWM:\t1234 MB\n"},
		{"a value that is not a number", "VmHWM:\tlots kB\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := parseStatusKB([]byte(tt.status), "VmHWM"); err == nil {
				t.Errorf("parseStatusKB = %d, want an error", n)
			}
		})
	}
}

func TestParseStatCPUAddsUserAndSystemTicks(t *testing.T) {
	// utime is field 14 and stime field 15; the command name may hold spaces and parentheses.
	tests := []struct {
		name, stat string
		want       float64
	}{
		{"a plain command name", "4242 (sink) S 1 4242 4242 0 -1 4194560 5000 0 0 0 150 50 0 0 20 0 9 0 123456 1250000000 20000 18446744073709551615", 2.0},
		{"a command name with spaces and parentheses", "4242 (my (odd) proc) R 1 4242 4242 0 -1 4194560 5000 0 0 0 7 3 0 0 20 0 9 0 123456 1250000000 20000", 0.1},
		{"a process that used no CPU yet", "7 (x) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1 1 1", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if err != nil || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v s", got, err, tt.want)
			}
		})
	}
}

func TestParseStatCPURejectsTruncatedLines(t *testing.T) {
	for _, stat := range []string{"", "4242 sink S 1", "4242 (sink) S 1 2 3", "4242 (sink) S 1 4242 4242 0 -1 4194560 5000 0 0 0 x 50 0"} {
		if got, err := parseStatCPU([]byte(stat)); err == nil {
			t.Errorf("parseStatCPU(%q) = %v, want an error", stat, got)
		}
	}
}

func TestReadUsageOfThisProcess(t *testing.T) {
	u, err := readUsage(os.Getpid())
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			t.Skip("no /proc here")
		}
		t.Fatal(err)
	}
	if u.PeakRSS < 1<<20 || u.CPU < 0 {
		t.Errorf("usage of the test process = %+v; want at least 1 MiB resident and non-negative CPU", u)
	}
}
