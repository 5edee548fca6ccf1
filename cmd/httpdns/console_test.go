package main

import (
	"strings"
	"testing"
	"time"
)

func TestConsoleConfig(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig([]byte(baseYAML), testDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.SampleInterval != Duration(10*time.Second) || c.Console.Samples != 360 || c.Console.ProbeReport != "" {
		t.Errorf("defaults: %+v", c.Console)
	}
	c, err = ParseConfig([]byte(baseYAML+"console: {sample_interval: 1s, samples: 60, probe_report: r.json}\n"), testDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Console.SampleInterval != Duration(time.Second) || c.Console.Samples != 60 || c.Console.ProbeReport != testDir+"/r.json" {
		t.Errorf("set: %+v", c.Console)
	}
	_, err = ParseConfig([]byte(baseYAML+"console: {sample_interval: 0s, samples: 1}\n"), testDir)
	if err == nil || !strings.Contains(err.Error(), "console.sample_interval") || !strings.Contains(err.Error(), "console.samples") {
		t.Errorf("bad values: %v", err)
	}
}
