package api

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of one request and of one listener that are not configurable: the wire formats never need
// more, and a client that sends more is misbehaving.
const (
	// MaxHeaderBytes bounds a request's line and headers together (64 KiB). net/http answers a longer
	// one itself, before any handler runs: 431 Request Header Fields Too Large, text/plain, and it
	// closes the connection.
	MaxHeaderBytes = 64 << 10
	// MaxQueryBytes bounds a request's query string (8 KiB): 414 URITooLong past it. The largest
	// legitimate one, a full /resolve batch of 253-character names, is a few KiB.
	MaxQueryBytes = 8 << 10
	// headerSlop is what net/http reads beyond Server.MaxHeaderBytes before it answers 431 (its
	// bufio slop); NewServer subtracts it so that the limit is MaxHeaderBytes exactly.
	headerSlop = 4096
)

// Defaults of the zero values of ServerConfig.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxConns          = 10000
)

// ServerConfig bounds what one connection may hold of a listener, so that slow or idle clients
// cannot tie it up: the defaults apply to zero values.
type ServerConfig struct {
	// ReadHeaderTimeout bounds the time to read a request's line and headers; default 5s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the time to read a whole request, body included, from its first byte: a
	// request whose announced body never arrives is cut at it. net/http also cancels a running
	// request when it passes, so it must exceed ReadHeaderTimeout plus the resolution deadline
	// (Config.Timeout); default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of a request's headers to the end of its response,
	// resolution included; it must exceed Config.Timeout. Default 10s.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next request; default 2m.
	IdleTimeout time.Duration
	// Logger receives net/http's own errors (accept failures, panics outside the handlers); nil:
	// discard.
	Logger *slog.Logger
}

// NewServer returns an http.Server serving h with cfg's timeouts and the MaxHeaderBytes limit.
// Serve it on LimitListener to bound its connections too.
func NewServer(h http.Handler, cfg ServerConfig) *http.Server {
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cmp.Or(cfg.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       cmp.Or(cfg.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      cmp.Or(cfg.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       cmp.Or(cfg.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    MaxHeaderBytes - headerSlop,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// LimitListener returns a listener that holds at most n connections open at once; n <= 0: no limit.
// Past n, Accept waits until one of them closes, so further clients wait in the kernel's accept
// queue (and time out there) instead of each costing the process a goroutine and buffers. Keep-alive
// connections hold their place while idle, until IdleTimeout closes them.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

// limitListener is LimitListener's: sem holds a token for each open connection.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{} // closed by Close, to free an Accept waiting for a token
	closeOnce sync.Once
}

// Accept waits for a free place, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a place.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

// limitConn gives its place back once, on its first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close closes the connection and frees its place.
func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before hanging up on a client it
// answered early (a 431): without it the client may get a reset instead of the answer.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Certificate is a TLS certificate chain and its private key, loaded from PEM files and reloadable
// in place (SIGHUP), so that a renewed certificate is served to new connections without a restart.
// It is safe for concurrent use.
type Certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCertificate reads the PEM certificate chain at certFile and the matching key at keyFile.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again. On error the certificate already loaded keeps serving.
func (c *Certificate) Reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading TLS certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	c.cur.Store(&kp)
	return nil
}

// Leaf is the certificate serving now.
func (c *Certificate) Leaf() *x509.Certificate { return c.cur.Load().Leaf }

// TLSConfig is the server side of the TLS listener: TLS 1.2 or later, HTTP/2 or HTTP/1.1 chosen by
// ALPN (RFC 7301; DoH clients such as curl, kdig and dnsperf speak HTTP/2), and c's certificate as
// loaded at each handshake.
func (c *Certificate) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.cur.Load(), nil
		},
	}
}

// NewTLSServer is NewServer for a TLS listener serving c's certificate: the same timeouts and
// header limit (net/http bounds the TLS handshake by the smallest of the read and write timeouts).
// Serve it with ServeTLS(LimitListener(ln, n), "", "").
func NewTLSServer(h http.Handler, cfg ServerConfig, c *Certificate) *http.Server {
	srv := NewServer(h, cfg)
	srv.TLSConfig = c.TLSConfig()
	return srv
}
