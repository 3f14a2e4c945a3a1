package fileplan

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"unicode/utf8"

	"github.com/gpuctl/gpuctl/plan"
)

// ContentChange shows text as a unified diff and binary data as a summary,
// since a diff of bytes helps nobody.
func ContentChange(res string, act plan.Action, before, after []byte) plan.Change {
	c := plan.Change{Resource: res, Action: act, Field: "content"}
	if isText(before) && isText(after) {
		c.Before, c.After, c.Content = string(before), string(after), true
		return c
	}
	c.Before, c.After = summary(before), summary(after)
	if before == nil {
		c.Before = ""
	}
	return c
}

func isText(b []byte) bool { return utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 }

func summary(b []byte) string {
	return fmt.Sprintf("(binary, %d bytes, sha256 %x)", len(b), sha256.Sum256(b))
}
