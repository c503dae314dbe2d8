package bench

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"
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

// serviceCPU finds processes by command line and sums their CPU time.
func TestServiceCPUFindsLocalProcessesByCommandLine(t *testing.T) {
	orig := services
	t.Cleanup(func() { services = orig })
	self, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatalf("the bench reads /proc: %v", err)
	}
	arg0 := strings.SplitN(string(self), "\x00", 2)[0]
	services = map[string]func(string) bool{
		"self":    func(c string) bool { return strings.HasPrefix(c, arg0+" ") },
		"nothing": func(c string) bool { return strings.Contains(c, "no-such-process-\x01") },
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
	} // burn a little CPU
	got := serviceCPU(nil)
	if _, ok := got["nothing"]; ok {
		t.Errorf("a service with no process is reported: %v", got)
	}
	if cpu, ok := got["self"]; !ok || cpu <= 0 {
		t.Errorf("the test process is not found or used no CPU: %v", got)
	}
}

func TestCPUPerEventAddsBinariesAndServices(t *testing.T) {
	e := &EndToEnd{Sent: 1_000_000,
		Processes:  []ProcReport{{Name: "producer", CPUSeconds: 5}, {Name: "sink", CPUSeconds: 2}},
		ServiceCPU: map[string]float64{"kafka": 3, "clickhouse": 1}}
	parts, total := e.CPUPerEvent()
	if total != 11 || len(parts) != 4 || parts[0].Name != "producer" || parts[0].CPUSeconds != 5 || parts[3].Name != "clickhouse" {
		t.Errorf("CPUPerEvent = %+v, %v; want producer 5, sink 2, kafka 3, clickhouse 1 µs = 11", parts, total)
	}
	if _, total := (&EndToEnd{}).CPUPerEvent(); total != 0 {
		t.Errorf("nothing sent: total %v", total)
	}
}

// The processes listening on a port are found, and only they.
func TestListenerPIDsFindsTheListeningProcess(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	got := listenerPIDs(port)
	if len(got) != 1 || got[0] != os.Getpid() {
		t.Errorf("listeners of port %d: %v, want this process %d", port, got, os.Getpid())
	}
	cpu := serviceCPU(servicePIDs(map[string]string{"self": ln.Addr().String()}))
	if _, ok := cpu["self"]; !ok {
		t.Errorf("serviceCPU by port: %v, want an entry for this process", cpu)
	}
	ln.Close()
	if got := listenerPIDs(port); len(got) != 0 {
		t.Errorf("a closed listener still found: %v", got)
	}
}

func TestMachineBusyGrows(t *testing.T) {
	a, err := machineBusy()
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	} // burn a little CPU
	b, err := machineBusy()
	if err != nil || b <= a {
		t.Errorf("machine busy %v then %v (%v): want it to grow while this test burns CPU", a, b, err)
	}
}
