package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/httpdns/httpdns/api"
)

// AccountConfig is one account of the provider doors (`accounts:` in the config). An account
// without an alibaba section is refused by the Alibaba doors, one without dnspod by the DNSPod door.
type AccountConfig struct {
	// ID is the account id clients send (/{id}/d, DNSPod's id=): 1-64 letters, digits, '-' or '_',
	// unique. Required.
	ID string `yaml:"id"`
	// Alibaba enables the Alibaba Cloud doors for the account.
	Alibaba *AlibabaAccountConfig `yaml:"alibaba"`
	// DNSPod enables the DNSPod door's encrypted and token modes for the account.
	DNSPod *DNSPodAccountConfig `yaml:"dnspod"`
}

// AlibabaAccountConfig holds an account's Alibaba Cloud HTTPDNS secrets.
type AlibabaAccountConfig struct {
	// Secret signs requests: v1 MD5(host-secret-t) with the text, v2 HMAC-SHA256 keyed with the
	// hex-decoded text. Default none: signed requests are refused (403 InvalidSignature).
	Secret Secret `yaml:"secret"`
	// AESKey is v2's AES-128 key, 32 hex characters. Default none.
	AESKey Secret `yaml:"aes_key"`
	// SignedOnly refuses unsigned /{id}/d and /{id}/resolve (403 UnsignedInterfaceDisabled).
	// Default false.
	SignedOnly bool `yaml:"signed_only"`
}

// DNSPodAccountConfig holds an account's DNSPod (Tencent Cloud) HTTPDNS keys.
type DNSPodAccountConfig struct {
	// DESKey is the key text of alg=des, at least 8 bytes (DES uses the first 8). Default none.
	DESKey Secret `yaml:"des_key"`
	// AESKey is the key text of alg=aes, 16 bytes. Default none.
	AESKey Secret `yaml:"aes_key"`
	// Token is the HTTPS token mode's token. Default none.
	Token Secret `yaml:"token"`
}

// Secret is a secret value of the config, written in one of three ways:
//
//	secret: "5f3c9a..."               # in the file
//	secret: {env: HTTPDNS_SECRET}     # from an environment variable, read at start
//	secret: {file: secrets/alibaba}   # from a file (relative to the config's directory), read at
//	                                  # start, trailing newlines and spaces removed
//
// Its value is never logged, printed or put in an error message.
type Secret struct {
	// File is the file the value comes from, resolved against the config's directory.
	File string
	// Env is the environment variable the value comes from.
	Env string

	value string
	err   string // why the value could not be read; names the file or variable, never the value
}

const secretWant = "a secret: text, {env: NAME} or {file: PATH}"

// UnmarshalYAML reads a scalar as the value itself, or a mapping with exactly one of env or file.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	*s = Secret{}
	switch n.Kind {
	case yaml.ScalarNode:
		s.value = n.Value
		return nil
	case yaml.MappingNode:
	default:
		return nodeError(n, secretWant, nil)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode || v.Value == "" {
			return nodeError(n, secretWant, fmt.Errorf("%s must be a non-empty name", k.Value))
		}
		switch k.Value {
		case "env":
			s.Env = v.Value
		case "file":
			s.File = v.Value
		default:
			return nodeError(n, secretWant, fmt.Errorf("unknown key %q", k.Value))
		}
	}
	if (s.Env == "") == (s.File == "") {
		return nodeError(n, secretWant, fmt.Errorf("give exactly one of env and file"))
	}
	return nil
}

// String hides the value, so that printing a Config reveals no secret.
func (s Secret) String() string {
	switch {
	case s.Env != "":
		return "{env: " + s.Env + "}"
	case s.File != "":
		return "{file: " + s.File + "}"
	case s.value != "":
		return "[redacted]"
	}
	return ""
}

// GoString hides the value from %#v and %+v as well.
func (s Secret) GoString() string { return s.String() }

// Value is the secret's value; empty when none is set or it could not be read.
func (s Secret) Value() string { return s.value }

// load reads the value from its file or variable.
func (s *Secret) load(dir string) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			s.err = "the environment variable " + s.Env + " is not set or empty"
		}
		s.value = v
	case s.File != "":
		s.File = resolvePath(dir, s.File)
		data, err := readSmallFile(s.File, maxSecretBytes)
		if err != nil {
			s.err = "reading " + s.File + ": " + errnoText(err)
			return
		}
		s.value = strings.TrimRight(string(data), " \t\r\n")
		if s.value == "" {
			s.err = "the file " + s.File + " is empty"
		}
	}
}

// maxSecretBytes bounds a secret file: a secret is short, and a path to a device or a wrong file
// must not make the start read without end.
const maxSecretBytes = 64 << 10

// readSmallFile reads path whole if it holds at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d bytes: not a secret", limit)
	}
	return data, nil
}

// errnoText is why a file could not be read, without echoing anything of its content.
func errnoText(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// normalizeAccounts reads the secrets kept in files and variables and makes empty lists nil.
func (c *Config) normalizeAccounts(dir string) {
	if len(c.Accounts) == 0 {
		c.Accounts = nil
	}
	if len(c.ServiceIPs) == 0 {
		c.ServiceIPs = nil
	}
	if c.AccountsFile == "" {
		c.AccountsFile = "accounts.json"
	}
	c.AccountsFile = resolvePath(dir, c.AccountsFile)
	for i := range c.Accounts {
		if ali := c.Accounts[i].Alibaba; ali != nil {
			ali.Secret.load(dir)
			ali.AESKey.load(dir)
		}
		if dp := c.Accounts[i].DNSPod; dp != nil {
			dp.DESKey.load(dir)
			dp.AESKey.load(dir)
			dp.Token.load(dir)
		}
	}
}

// accounts checks the accounts whole (api.CheckAccounts) and the secrets that could not be read.
func (p *problems) accounts(list []AccountConfig) {
	for i, acc := range list {
		secrets := map[string]*Secret{}
		if ali := acc.Alibaba; ali != nil {
			secrets["alibaba.secret"], secrets["alibaba.aes_key"] = &ali.Secret, &ali.AESKey
		}
		if dp := acc.DNSPod; dp != nil {
			secrets["dnspod.des_key"], secrets["dnspod.aes_key"], secrets["dnspod.token"] = &dp.DESKey, &dp.AESKey, &dp.Token
		}
		for _, name := range []string{"alibaba.secret", "alibaba.aes_key", "dnspod.des_key", "dnspod.aes_key", "dnspod.token"} {
			if s := secrets[name]; s != nil && s.err != "" {
				p.add(fmt.Sprintf("accounts[%d].%s", i, name), "%s", s.err)
			}
		}
	}
	if err := api.CheckAccounts(apiAccounts(list)); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p.add("accounts", "%s", line)
		}
	}
}

// serviceIPs checks service_ips: each an IP address, or an IP address and port.
func (p *problems) serviceIPs(list []string) {
	for i, s := range list {
		if !validServiceIP(s) {
			p.add(fmt.Sprintf("service_ips[%d]", i), "%q is not an IP address or IP:port", s)
		}
	}
}

func validServiceIP(s string) bool {
	if addr, err := netip.ParseAddr(s); err == nil {
		return addr.Zone() == ""
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	addr, err := netip.ParseAddr(host)
	n, perr := strconv.ParseUint(port, 10, 16)
	return err == nil && addr.Zone() == "" && perr == nil && n > 0
}

// apiAccounts converts the accounts for the api package.
func apiAccounts(list []AccountConfig) []api.Account {
	if len(list) == 0 {
		return nil
	}
	out := make([]api.Account, 0, len(list))
	for _, acc := range list {
		a := api.Account{ID: acc.ID}
		if ali := acc.Alibaba; ali != nil {
			a.Alibaba = &api.AlibabaAccount{Secret: ali.Secret.Value(), AESKey: ali.AESKey.Value(), SignedOnly: ali.SignedOnly}
		}
		if dp := acc.DNSPod; dp != nil {
			a.DNSPod = &api.DNSPodAccount{DESKey: dp.DESKey.Value(), AESKey: dp.AESKey.Value(), Token: dp.Token.Value()}
		}
		out = append(out, a)
	}
	return out
}

// startAccounts returns the accounts serve starts with: accounts_file's when it exists (the latest
// PUT /admin/accounts), else the config's accounts.
func startAccounts(cfg *Config, logger *slog.Logger) ([]api.Account, error) {
	list, err := api.LoadAccounts(cfg.AccountsFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return apiAccounts(cfg.Accounts), nil
	case err != nil:
		return nil, err
	}
	if len(cfg.Accounts) > 0 {
		logger.Warn("using the accounts uploaded to accounts_file, not the config's accounts; remove the file to use the config's",
			"accounts_file", cfg.AccountsFile)
	}
	return list, nil
}

// advertisedServiceIPs is what /{id}/ss advertises: service_ips, else the listen address when it
// names one address and port; else none, and the api answers with the address each client used.
func (c *Config) advertisedServiceIPs() []string {
	if len(c.ServiceIPs) > 0 {
		return c.ServiceIPs
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil || port == "0" {
		return nil
	}
	if addr, err := netip.ParseAddr(host); err != nil || addr.IsUnspecified() {
		return nil
	}
	return []string{c.Listen}
}
