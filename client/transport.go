package client

import (
	"net/http"
)

// Transport returns an *http.Transport (a clone of http.DefaultTransport's settings) that dials
// through DialContext: requests keep the host name in their URL, so the Host header, the TLS SNI
// and the certificate check all use the name, while the TCP connection goes to the address the
// client chose. Never put the IP in the URL instead: the certificate names the host, not the edge,
// and skipping verification to make that work (InsecureSkipVerify) hands the connection to anyone
// on the path.
//
// It uses no proxy (the point is to connect to the edge directly) and TLSConfig as its TLS client
// configuration. Swap it in for http.DefaultTransport:
//
//	hc := &http.Client{Transport: c.Transport()}
//
// Make one and share it: the client closes its idle connections on a network change and on Close.
func (c *Client) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = c.DialContext
	if c.cfg.TLSConfig != nil {
		t.TLSClientConfig = c.cfg.TLSConfig.Clone()
	}
	c.mu.Lock()
	c.transports = append(c.transports, t)
	c.mu.Unlock()
	return t
}
