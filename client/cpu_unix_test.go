//go:build unix

package client

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the whole process has used, client and server goroutines
// alike, since both ends of a bufconn call run here.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU starts counting CPU time; the function it returns reports it per
// operation as cpu-ns/op. On a shared machine ns/op mostly measures the neighbours;
// CPU time is far steadier, so ratios between benchmarks are taken from it.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}
