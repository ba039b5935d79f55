// Package message parses and renders campaign message templates, which are
// Liquid (https://shopify.github.io/liquid/) with the customer in scope.
//
// Templates come from API callers and the Liquid engine can panic on some
// inputs, so every call here recovers and turns a panic into an error:
// a bad template must fail one delivery, never the process.
package message

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/osteele/liquid"
	"github.com/osteele/liquid/expressions"
)

// MaxTemplateBytes bounds a template's source.
const MaxTemplateBytes = 64 << 10

// MaxRenderedBytes bounds one rendered message; a loop in a template could
// otherwise produce a message of any size.
const MaxRenderedBytes = 256 << 10

// ErrTooLarge reports a rendered message longer than MaxRenderedBytes.
var ErrTooLarge = fmt.Errorf("rendered message exceeds %d bytes", MaxRenderedBytes)

// Customer is what a template sees as `customer`.
type Customer struct {
	ID     string
	Traits map[string]any
}

// Template is a parsed message template, safe for concurrent use.
type Template struct {
	t *liquid.Template
}

// engine is shared: a liquid.Engine only holds configuration.
var engine = liquid.NewEngine()

// Parse parses src. It also renders src once against an empty customer so
// that a misspelt filter name, which Liquid reports only when rendering, is
// caught when the campaign is created rather than by failing every delivery.
// Other render-time errors depend on the customer's data and are not errors
// of the template.
func Parse(src string) (tmpl *Template, err error) {
	if len(src) > MaxTemplateBytes {
		return nil, fmt.Errorf("template is %d bytes, more than %d", len(src), MaxTemplateBytes)
	}
	defer func() {
		if p := recover(); p != nil {
			tmpl, err = nil, fmt.Errorf("parse template: %v", p)
		}
	}()
	t, serr := engine.ParseString(src)
	if serr != nil {
		return nil, serr
	}
	tmpl = &Template{t: t}
	if _, err := tmpl.Render(Customer{}); err != nil && isUndefinedFilter(err) {
		return nil, err
	}
	return tmpl, nil
}

// Render renders the template for c. The output may hold invalid UTF-8 (a
// filter can cut a character in half) or NUL; the store makes it storable.
func (t *Template) Render(c Customer) (out string, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = "", fmt.Errorf("render template: %v", p)
		}
	}()
	traits := c.Traits
	if traits == nil {
		traits = map[string]any{}
	}
	return t.render(map[string]any{
		"customer": map[string]any{
			"customer_id": c.ID,
			"traits":      traits,
		},
	})
}

func (t *Template) render(bindings map[string]any) (string, error) {
	var b strings.Builder
	w := &limitedWriter{w: &b, n: MaxRenderedBytes}
	if serr := t.t.FRender(w, bindings); serr != nil {
		if w.exceeded {
			return "", ErrTooLarge
		}
		return "", serr
	}
	return b.String(), nil
}

// isUndefinedFilter walks Liquid's Cause chain (it does not implement
// Unwrap) looking for an undefined filter.
func isUndefinedFilter(err error) bool {
	for err != nil {
		var uf expressions.UndefinedFilter
		if errors.As(err, &uf) {
			return true
		}
		c, ok := err.(interface{ Cause() error })
		if !ok {
			return false
		}
		next := c.Cause()
		if next == err {
			return false
		}
		err = next
	}
	return false
}

// limitedWriter fails writes beyond n bytes, which aborts rendering.
type limitedWriter struct {
	w        io.Writer
	n        int
	exceeded bool
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		l.exceeded = true
		return 0, ErrTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}

// MaxRenderTime bounds one RenderBounded call.
const MaxRenderTime = time.Second

// maxStuck bounds the renders that outlived MaxRenderTime and still run:
// Liquid cannot be interrupted, so a template looping without output keeps
// its goroutine until it ends. Beyond this many, new renders are refused
// rather than let such templates pile up and starve the sender.
const maxStuck = 4

var stuck atomic.Int32

// ErrTooSlow reports a render that took longer than MaxRenderTime.
var ErrTooSlow = fmt.Errorf("template took longer than %s to render", MaxRenderTime)

// RenderBounded renders the template with bindings, within MaxRenderTime
// and MaxRenderedBytes: a template that exceeds either fails that message
// with a clear reason and never stalls the caller.
func (t *Template) RenderBounded(bindings map[string]any) (string, error) {
	if stuck.Load() >= maxStuck {
		return "", fmt.Errorf("%w (too many slow renders still running)", ErrTooSlow)
	}
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r = result{err: fmt.Errorf("render template: %v", p)}
			}
			done <- r
		}()
		r.out, r.err = t.render(bindings)
	}()
	timer := time.NewTimer(MaxRenderTime)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.out, r.err
	case <-timer.C:
		stuck.Add(1)
		go func() { <-done; stuck.Add(-1) }()
		return "", ErrTooSlow
	}
}
