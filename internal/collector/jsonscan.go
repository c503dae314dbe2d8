package collector

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// The JSON intake walks bodies that json.Valid accepted with the small scanner
// below instead of decoding them through reflection, which took three quarters of
// the collector's CPU. Bodies that are not valid JSON take encoding/json's path,
// which explains what is wrong. Every function still checks its bounds, so a bug
// here is an error, never a panic (FuzzJSONIntake).

var errScan = errors.New("JSON scanner out of bounds")

// member is one name/value pair of a JSON object, as raw bytes.
type member struct {
	key []byte // the key without quotes, escapes not resolved
	val []byte // the raw value
}

// name returns the member's key with escapes resolved.
func (m member) name() string {
	for _, c := range m.key {
		if c == '\\' {
			var s string
			if json.Unmarshal(append(append([]byte{'"'}, m.key...), '"'), &s) == nil {
				return s
			}
			break
		}
	}
	return string(m.key)
}

// is reports whether the member's key is name.
func (m member) is(name string) bool {
	if m.hasEscape() {
		return m.name() == name
	}
	return string(m.key) == name
}

// hasEscape reports whether the key needs name() to be compared.
func (m member) hasEscape() bool {
	for _, c := range m.key {
		if c == '\\' {
			return true
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string that starts at b[i] == '"'.
func stringEnd(b []byte, i int) (int, error) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errScan
}

// valueEnd returns the index just past the value that starts at b[i].
func valueEnd(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errScan
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, err := stringEnd(b, i)
				if err != nil {
					return 0, err
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errScan
	}
	start := i
	for i < len(b) && !isSpace(b[i]) && b[i] != ',' && b[i] != '}' && b[i] != ']' {
		i++
	}
	if i == start {
		return 0, errScan
	}
	return i, nil
}

// members appends the members of the object b (valid JSON, starting with '{') to
// out.
func members(b []byte, out []member) ([]member, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errScan
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, errScan
		}
		switch b[i] {
		case '}':
			return out, nil
		case ',':
			i = skipSpace(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return nil, errScan
		}
		end, err := stringEnd(b, i)
		if err != nil {
			return nil, err
		}
		key := b[i+1 : end-1]
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, errScan
		}
		i = skipSpace(b, i+1)
		vend, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, member{key: key, val: b[i:vend]})
		i = vend
	}
}

// elements returns the elements of the array b (valid JSON, starting with '[').
func elements(b []byte) ([][]byte, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errScan
	}
	var out [][]byte
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, errScan
		}
		switch b[i] {
		case ']':
			return out, nil
		case ',':
			i = skipSpace(b, i+1)
		}
		end, err := valueEnd(b, i)
		if err != nil {
			return nil, err
		}
		out = append(out, b[i:end])
		i = end
	}
}

// validUTF8 is utf8.Valid, named for what the intake checks.
func validUTF8(b []byte) bool { return utf8.Valid(b) }
