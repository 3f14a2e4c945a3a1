package generic

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/internal/fileplan"
)

// Mode is a permission argument as Ansible reads it: an octal string
// ("0644", "644", "2755"), a number (an unquoted YAML 0644 arrives as 420),
// or a symbolic mode ("u=rw,g=r,o=r", "u+x,go-w", "a=rX").
type Mode string

// UnmarshalMapstructure keeps numbers numeric: a YAML 0644 is decoded as the
// integer 420 before it reaches us, and reading its decimal digits as octal
// would give 0644's wrong cousin 0420.
func (m *Mode) UnmarshalMapstructure(v any) error {
	switch x := v.(type) {
	case string:
		*m = Mode(strings.TrimSpace(x))
	case int:
		return m.fromInt(int64(x))
	case int64:
		return m.fromInt(x)
	case uint64:
		return m.fromInt(int64(x))
	case float64:
		if x != float64(int64(x)) {
			return fmt.Errorf("mode %v is not a whole number", x)
		}
		return m.fromInt(int64(x))
	default:
		return fmt.Errorf("mode must be a string such as \"0644\", got %T", v)
	}
	return nil
}

func (m *Mode) fromInt(n int64) error {
	if n < 0 || n > 0o7777 {
		return fmt.Errorf("mode %d is out of range; quote octal modes: \"0644\"", n)
	}
	*m = Mode(fmt.Sprintf("%04o", n))
	return nil
}

// Validate checks the syntax without a file to apply it to.
func (m Mode) Validate() error {
	if m == "" {
		return nil
	}
	_, err := m.Apply(0, false)
	return err
}

// Apply returns the mode m gives a file whose current mode is cur;
// symbolic modes are relative to cur, octal ones are not.
func (m Mode) Apply(cur fs.FileMode, isDir bool) (fs.FileMode, error) {
	s := string(m)
	if s == "" {
		return cur, nil
	}
	if isOctal(s) {
		n, err := strconv.ParseUint(s, 8, 32)
		if err != nil || n > 0o7777 {
			return 0, fmt.Errorf("mode %q is not a valid octal mode", s)
		}
		return fromUnix(uint32(n)), nil
	}
	bits, err := applySymbolic(s, toUnix(cur), isDir)
	if err != nil {
		return 0, err
	}
	return fromUnix(bits), nil
}

func isOctal(s string) bool {
	for _, r := range s {
		if r < '0' || r > '7' {
			return false
		}
	}
	return s != ""
}

// toUnix and fromUnix convert between Go's FileMode bits and the chmod
// numbers people write; Go keeps setuid/setgid/sticky outside the low bits.
func toUnix(m fs.FileMode) uint32 { return conn.UnixMode(m) }

func fromUnix(n uint32) fs.FileMode {
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// octal formats permission bits the way chmod and Ansible print them.
func octal(m fs.FileMode) string { return fileplan.Octal(m) }

// applySymbolic implements chmod's symbolic grammar:
// clause{,clause}, clause = [ugoa]*([-+=][rwxXst]*)+.
func applySymbolic(s string, cur uint32, isDir bool) (uint32, error) {
	bad := func() (uint32, error) {
		return 0, fmt.Errorf("mode %q is neither octal nor symbolic (u=rw,g=r,o=r)", s)
	}
	mode := cur
	for _, clause := range strings.Split(s, ",") {
		i := 0
		var who uint32
		for ; i < len(clause) && strings.IndexByte("ugoa", clause[i]) >= 0; i++ {
			switch clause[i] {
			case 'u':
				who |= 0o4700
			case 'g':
				who |= 0o2070
			case 'o':
				who |= 0o1007
			case 'a':
				who |= 0o7777
			}
		}
		if who == 0 {
			who = 0o7777
		}
		if i == len(clause) {
			return bad()
		}
		for i < len(clause) {
			op := clause[i]
			if op != '+' && op != '-' && op != '=' {
				return bad()
			}
			i++
			var perm uint32
			for ; i < len(clause) && strings.IndexByte("rwxXst", clause[i]) >= 0; i++ {
				switch clause[i] {
				case 'r':
					perm |= 0o444
				case 'w':
					perm |= 0o222
				case 'x':
					perm |= 0o111
				case 'X':
					if isDir || cur&0o111 != 0 {
						perm |= 0o111
					}
				case 's':
					perm |= 0o6000
				case 't':
					perm |= 0o1000
				}
			}
			perm &= who
			switch op {
			case '+':
				mode |= perm
			case '-':
				mode &^= perm
			case '=':
				// = clears the classes named, except that it leaves the
				// setuid/setgid bits of directories alone, as chmod does.
				clear := who &^ 0o7000
				if who&0o4700 == 0o4700 && !isDir {
					clear |= 0o4000
				}
				if who&0o2070 == 0o2070 && !isDir {
					clear |= 0o2000
				}
				if who&0o1007 == 0o1007 {
					clear |= 0o1000
				}
				mode = mode&^clear | perm
			}
		}
	}
	return mode, nil
}
