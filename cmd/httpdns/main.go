// Command httpdns is an HTTPDNS resolver: apps ask over HTTP (GET /d?host=NAME) instead of their
// carrier's LocalDNS, and get the answer a CDN would give for their own subnet (RFC 7871 ECS).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// errUsage marks a command line that could not be used. Whoever returns it has already printed
// the problem and the usage, so main only sets the exit status.
var errUsage = errors.New("usage error")

const usage = `httpdns answers DNS questions over HTTP, scoped to each client's subnet.

Usage:
  httpdns <command> [flags] [arguments]

Commands:
  serve     run the HTTPDNS service from a YAML config file
  demo      run the service against a simulated CDN and show what it answers
  resolve   ask an httpdns server for names and print the answers
  probe     learn the adaptive subnet library (CIDRDB) by ECS probing
  cidrdb    build, inspect and compare CIDRDB files (schema: "httpdns cidrdb -h")
  version   print the version of this binary
  help      print this help, or "httpdns help COMMAND" for one command

Run "httpdns COMMAND -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "httpdns: %v\n", err)
		os.Exit(1)
	}
}

// run dispatches args[0] to its subcommand. It returns an error wrapping errUsage when the
// command line cannot be used; a request for help (-h) is not an error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = runServe(ctx, rest, stdout, stderr)
	case "demo":
		err = runDemo(ctx, rest, stdout, stderr)
	case "resolve":
		err = runResolve(ctx, rest, stdout, stderr)
	case "probe":
		err = runProbe(ctx, rest, stdout, stderr)
	case "cidrdb":
		err = runCIDRDB(rest, stdout, stderr)
	case "version":
		err = runVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return run(ctx, []string{rest[0], "-h"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "httpdns: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// newFlagSet returns a subcommand's flag set: errors and help go to stderr, and -h prints text
// (the synopsis and what the command does) followed by the flags.
func newFlagSet(name, text string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), text)
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. It returns flag.ErrHelp unchanged for -h (run turns that into
// success) and wraps every other problem in errUsage; the flag package has printed it already.
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", errUsage, err)
}

// usageErrorf reports a bad command line for fs, prints its usage, and returns errUsage.
func usageErrorf(fs *flag.FlagSet, format string, args ...any) error {
	fmt.Fprintf(fs.Output(), "httpdns %s: %s\n\n", fs.Name(), fmt.Sprintf(format, args...))
	fs.Usage()
	return errUsage
}

const versionUsage = `Usage: httpdns version

Prints "httpdns VERSION": the module version this binary was built from, else its VCS revision
(with "+dirty" for uncommitted changes), else "devel".
`

// runVersion prints the binary's version.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", versionUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf(fs, "unexpected argument %q", fs.Arg(0))
	}
	info, ok := debug.ReadBuildInfo()
	fmt.Fprintf(stdout, "httpdns %s\n", versionOf(info, ok))
	return nil
}

// versionOf names the build: the main module's version when the binary was built from a tagged
// module (go install ...@v1.2.3), else the VCS revision stamped by go build, else "devel".
func versionOf(info *debug.BuildInfo, ok bool) string {
	if !ok || info == nil {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "+dirty"
		}
	}
	if rev == "" {
		return "devel"
	}
	return rev + dirty
}
