package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// errResponse is wrapped by every answer readResponse cannot use.
var errResponse = errors.New("unusable HTTP response")

var (
	httpVersion      = []byte("HTTP/1.")
	contentLength    = []byte("Content-Length")
	transferEncoding = []byte("Transfer-Encoding")
	connection       = []byte("Connection")
	closeToken       = []byte("close")
)

// readResponse reads one HTTP/1.x response from br and discards its body. It allocates nothing, so
// the generator spends as little of the shared CPUs as it can; the price is that it knows only
// what both targets send: a status line, headers, and a body of Content-Length bytes (a chunked
// or close-delimited body is an error). keep is false when the server will close the connection.
func readResponse(br *bufio.Reader) (status int, keep bool, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// "HTTP/1.1 200 OK\r\n": version, space, three-digit code.
	if len(line) < 12 || !bytes.HasPrefix(line, httpVersion) || line[8] != ' ' {
		return 0, false, fmt.Errorf("%w: status line %q", errResponse, line)
	}
	if status, err = digits(line[9:12]); err != nil || status < 100 {
		return 0, false, fmt.Errorf("%w: status line %q", errResponse, line)
	}
	keep = line[7] == '1'
	length := -1
	for {
		if line, err = br.ReadSlice('\n'); err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return 0, false, fmt.Errorf("%w: header line %q", errResponse, line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, contentLength):
			if length, err = digits(value); err != nil {
				return 0, false, fmt.Errorf("%w: Content-Length %q", errResponse, value)
			}
		case bytes.EqualFold(name, transferEncoding):
			return 0, false, fmt.Errorf("%w: Transfer-Encoding %q", errResponse, value)
		case bytes.EqualFold(name, connection) && bytes.EqualFold(value, closeToken):
			keep = false
		}
	}
	if length < 0 {
		return 0, false, fmt.Errorf("%w: no Content-Length", errResponse)
	}
	if _, err := br.Discard(length); err != nil {
		return 0, false, err
	}
	return status, keep, nil
}

// digits parses a non-empty run of at most nine decimal digits.
func digits(b []byte) (int, error) {
	if len(b) == 0 || len(b) > 9 {
		return 0, strconv.ErrSyntax
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, strconv.ErrSyntax
		}
		n = n*10 + int(c-'0')
	}
	return n, nil
}
