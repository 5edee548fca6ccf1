package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ, which Linux fixes at 100
// for user space on every architecture this runs on.
const clockTick = 10 * time.Millisecond

// errStat is returned when a /proc/PID/stat line cannot be read.
var errStat = errors.New("unusable /proc stat line")

// processCPU returns the CPU time (user plus system) process pid has used so far. The CPU a
// server spends per request is the steadiest comparison on a shared machine: other processes
// stretch its latency and cut its throughput, but hardly change the work each request takes.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of %d: %w", pid, err)
	}
	return parseStat(b)
}

// parseStat returns utime+stime from a /proc/PID/stat line. The command name in parentheses may
// hold spaces, so fields are counted after its closing parenthesis: state is field 3, utime 14
// and stime 15.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: no command name", errStat)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: %d fields after the command name", errStat, len(f))
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: %w", errStat, err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// cpuMeter measures the CPU a process spends over a run.
type cpuMeter struct {
	pid   int
	start time.Duration
}

// startCPU begins measuring pid.
func startCPU(pid int) (cpuMeter, error) {
	t, err := processCPU(pid)
	return cpuMeter{pid: pid, start: t}, err
}

// perRequest returns the CPU spent since startCPU divided by requests.
func (m cpuMeter) perRequest(requests int) (time.Duration, error) {
	t, err := processCPU(m.pid)
	if err != nil || requests <= 0 {
		return 0, err
	}
	return (t - m.start) / time.Duration(requests), nil
}
