package main

import (
	"errors"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is one problem with one key of a config file.
type FieldError struct {
	// Key is the key's path, e.g. "listen", "ttl.min", "upstreams[1]"; empty when the problem
	// is with the document as a whole.
	Key string
	// Line is the key's 1-based line in the file; 0 when the key is absent or unknown.
	Line int
	// Problem says what is wrong, e.g. "must not exceed ttl.max".
	Problem string
}

// Error formats the problem as "line 12: ttl.min: must not exceed ttl.max".
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key + ": ")
	}
	b.WriteString(e.Problem)
	return b.String()
}

// keyEntry is one key (or list item) of a YAML document and where it sits.
type keyEntry struct {
	path      string // "cache.max_bytes", "upstreams[1]"
	key       string // the last key ("max_bytes"); empty for a list item
	keyLine   int    // line of the key (of the item, for a list item)
	valueLine int    // line where the value starts
	kind      yaml.Kind
	value     string // the value, when it is a scalar
}

// keyIndex lists a document's keys in document order, so errors that only know a line (the
// YAML decoder's) can name their key, and errors that only know a key can name their line.
type keyIndex []keyEntry

// indexKeys walks the parsed document. Aliases are not followed.
func indexKeys(doc *yaml.Node) keyIndex {
	var ix keyIndex
	ix.walk(doc, "")
	return ix
}

func (ix *keyIndex) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			ix.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			*ix = append(*ix, keyEntry{path: p, key: k.Value, keyLine: k.Line, valueLine: v.Line, kind: v.Kind, value: v.Value})
			ix.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := path + "[" + strconv.Itoa(i) + "]"
			*ix = append(*ix, keyEntry{path: p, keyLine: c.Line, valueLine: c.Line, kind: c.Kind, value: c.Value})
			ix.walk(c, p)
		}
	}
}

// lineOf returns the line of the key at path, 0 if the document doesn't have it.
func (ix keyIndex) lineOf(path string) int {
	for _, e := range ix {
		if e.path == path {
			return e.keyLine
		}
	}
	return 0
}

// locate fills in the line of each problem and joins them.
func (ix keyIndex) locate(ps problems) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		if p.Line == 0 {
			p.Line = ix.lineOf(p.Key)
		}
		errs[i] = p
	}
	return errors.Join(errs...)
}

// explain turns the decoder's errors, which name lines ("line 7: cannot unmarshal ..."), into
// FieldErrors that also name keys, and reports an unknown key as such. te may be nil.
func (ix keyIndex) explain(te *yaml.TypeError) problems {
	if te == nil {
		return nil
	}
	out := make(problems, len(te.Errors))
	for i, msg := range te.Errors {
		out[i] = ix.explainOne(msg)
	}
	return out
}

func (ix keyIndex) explainOne(msg string) *FieldError {
	rest, ok := strings.CutPrefix(msg, "line ")
	num, problem, ok2 := strings.Cut(rest, ": ")
	line, err := strconv.Atoi(num)
	if !ok || !ok2 || err != nil {
		return &FieldError{Problem: msg}
	}
	if name, ok := unknownField(problem); ok {
		for _, e := range ix {
			if e.keyLine == line && e.key == name {
				return &FieldError{Key: e.path, Line: line, Problem: "unknown key"}
			}
		}
		return &FieldError{Key: name, Line: line, Problem: "unknown key"}
	}
	return &FieldError{Key: ix.keyForValue(line, problem), Line: line, Problem: plainTypes(problem)}
}

// plainTypes names the Go types of the decoder's "cannot unmarshal X into T" in the file's terms.
func plainTypes(problem string) string {
	if i := strings.Index(problem, " into main."); i >= 0 {
		return problem[:i] + " into a mapping of keys"
	}
	return strings.NewReplacer(" into []string", " into a list of strings", " into int", " into an integer").Replace(problem)
}

// covers reports whether a problem was already found with key or with a key that holds it, so
// a value that failed to decode is not also reported as missing. A problem with no key covers
// every key.
func (p problems) covers(key string) bool {
	for _, fe := range p {
		if fe.Key == "" || key == fe.Key || strings.HasPrefix(key, fe.Key+".") || strings.HasPrefix(key, fe.Key+"[") {
			return true
		}
	}
	return false
}

// keyForValue guesses which key's value on line the problem is about. Several values can
// share a line (`cache: {max_bytes: lots}`), so it prefers the value of the kind the problem
// names, a scalar only if the problem quotes it, and the deepest such value: a value whose
// parent failed to decode would not have been looked at.
func (ix keyIndex) keyForValue(line int, problem string) string {
	kind := problemKind(problem)
	key := ""
	for _, e := range ix {
		if e.valueLine != line || e.kind != kind {
			continue
		}
		if kind != yaml.ScalarNode || quotes(problem, e.value) {
			key = e.path
		}
	}
	return key
}

// problemKind tells what kind of node a decoding problem is about.
func problemKind(problem string) yaml.Kind {
	switch {
	case strings.Contains(problem, "!!seq") || strings.Contains(problem, "not a list"):
		return yaml.SequenceNode
	case strings.Contains(problem, "!!map") || strings.Contains(problem, "not a mapping"):
		return yaml.MappingNode
	}
	return yaml.ScalarNode
}

// quotes reports whether problem quotes value, as nodeError does ("v") or as the decoder
// does (`v`, or `v[:7]...` when v is long).
func quotes(problem, value string) bool {
	short := value
	if len(short) > 10 {
		short = short[:7]
	}
	return strings.Contains(problem, strconv.Quote(value)) || strings.Contains(problem, "`"+short)
}

// unknownField extracts the key from the decoder's "field NAME not found in type T".
func unknownField(problem string) (string, bool) {
	rest, ok := strings.CutPrefix(problem, "field ")
	if !ok {
		return "", false
	}
	i := strings.LastIndex(rest, " not found in type ")
	if i < 0 {
		return "", false
	}
	return rest[:i], true
}
