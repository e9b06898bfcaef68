package platform

import (
	"fmt"
	"strings"
)

// FieldError is one problem in a platform file, located by line, column and
// field path (such as sites[1].lb.runtime_api).
type FieldError struct {
	// File is the name the file was loaded or parsed under.
	File string
	// Line and Column are 1-based; 0 means unknown (some YAML syntax errors
	// carry only a line).
	Line   int
	Column int
	// Field is the path of the offending field; empty for syntax errors.
	Field string
	// Msg says what is wrong and what is expected. It never contains a secret.
	Msg string
}

// Error formats the problem as file:line:column: field: message, leaving out
// the parts that are unknown.
func (e FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationError is every problem found in a platform file, in file order.
// Parse and Load return it for syntax, decoding and validation failures alike.
type ValidationError struct {
	Errors []FieldError
}

// Error prints one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}
