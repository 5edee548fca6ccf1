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
	"strings"
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
  cidrdb    build, inspect, compare and publish CIDRDB files (schema: "httpdns cidrdb -h")
  version   print the version of this binary
  help      print this help, or "httpdns help COMMAND" for one command

Run "httpdns COMMAND -h" for the flags of a command. "httpdns --version" is "httpdns version".
A request for help prints it and exits 0; a command line that cannot be used prints the problem
and the usage on stderr and exits 2; a command that fails exits 1.
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
	case "version", "-version", "--version":
		err = runVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		// "help COMMAND" is "COMMAND -h"; "help" followed by another help word (help -h, -h -h,
		// help --help) is plain help. Only a command name is dispatched, so help never calls itself.
		switch {
		case len(rest) == 0 || isHelp(rest[0]):
			fmt.Fprint(stdout, usage)
		case isCommand(rest[0]):
			return run(ctx, []string{rest[0], "-h"}, stdout, stderr)
		default:
			fmt.Fprintf(stderr, "httpdns: unknown command %q\n\n%s", rest[0], usage)
			return errUsage
		}
	default:
		fmt.Fprintf(stderr, "httpdns: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// isCommand reports whether name is a subcommand that takes -h.
func isCommand(name string) bool {
	switch name {
	case "serve", "demo", "resolve", "probe", "cidrdb", "version":
		return true
	}
	return false
}

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
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

const versionUsage = `Usage: httpdns version   (also: httpdns --version, httpdns -version)

Prints "httpdns VERSION (DETAILS)". VERSION is, in order of preference: the value stamped at link
time with
    go build -ldflags "-X main.version=v1.2.3" -o httpdns ./cmd/httpdns
the module version of "go install github.com/httpdns/httpdns/cmd/httpdns@v1.2.3" (or the
pseudo-version go build derives from the git checkout), else "devel". DETAILS give the VCS
revision and commit time and "modified" for uncommitted changes, when the build recorded them
(go build in a git checkout does; go run does not), and the Go version.
`

// version is the release name stamped at link time with -ldflags "-X main.version=v1.2.3"; when
// empty the build info decides. Only the linker writes it.
var version string

// runVersion prints the binary's version.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("version", versionUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf(fs, "unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintf(stdout, "httpdns %s\n", currentBuild())
	return nil
}

// buildInfo says which build of httpdns is running.
type buildInfo struct {
	Version  string // release or module version, "devel" when none is known
	Revision string // VCS revision, "" when not recorded
	Time     string // VCS commit time (RFC 3339), "" when not recorded
	Modified bool   // the working tree had uncommitted changes
	Go       string // Go toolchain version
}

// currentBuild describes this binary from the linker stamp and runtime/debug.ReadBuildInfo.
func currentBuild() buildInfo {
	info, ok := debug.ReadBuildInfo()
	return buildOf(version, info, ok)
}

// buildOf describes a build: stamped (the -ldflags -X value) wins as the version, then the main
// module's version (a tag for go install ...@v1.2.3, a pseudo-version for go build in a git
// checkout), then "devel"; the vcs.* settings fill in the details.
func buildOf(stamped string, info *debug.BuildInfo, ok bool) buildInfo {
	b := buildInfo{Version: stamped}
	if ok && info != nil {
		b.Go = info.GoVersion
		if v := info.Main.Version; b.Version == "" && v != "" && v != "(devel)" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.time":
				b.Time = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	return b
}

// String renders the build as "VERSION (revision REV, TIME, modified, GO)", leaving out what was
// not recorded.
func (b buildInfo) String() string {
	var details []string
	if b.Revision != "" {
		details = append(details, "revision "+b.Revision)
	}
	if b.Time != "" {
		details = append(details, b.Time)
	}
	if b.Modified {
		details = append(details, "modified")
	}
	if b.Go != "" {
		details = append(details, b.Go)
	}
	if len(details) == 0 {
		return b.Version
	}
	return b.Version + " (" + strings.Join(details, ", ") + ")"
}
