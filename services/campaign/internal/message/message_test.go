package message

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		wantErr bool
	}{
		{name: "plain", src: "Hello"},
		{name: "default filter", src: "Hello {{ customer.traits.name | default: 'there' }}"},
		{name: "data-dependent error is not a template error", src: "{{ customer.traits.n | divided_by: 0 }}"},
		{name: "unterminated block", src: "{% if x %}", wantErr: true},
		{name: "undefined filter", src: "{{ customer.customer_id | nosuch }}", wantErr: true},
		{name: "too large", src: strings.Repeat("a", MaxTemplateBytes+1), wantErr: true},
		{name: "largest allowed", src: strings.Repeat("a", MaxTemplateBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.src)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Parse error = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		customer Customer
		want     string
		wantErr  bool
	}{
		{
			name:     "trait",
			src:      "Hello {{ customer.traits.name | default: 'there' }} ({{ customer.customer_id }})",
			customer: Customer{ID: "cus_1", Traits: map[string]any{"name": "Ann"}},
			want:     "Hello Ann (cus_1)",
		},
		{
			name:     "missing trait uses default",
			src:      "Hello {{ customer.traits.name | default: 'there' }}",
			customer: Customer{ID: "cus_2"},
			want:     "Hello there",
		},
		{
			name:     "nested trait",
			src:      "{{ customer.traits.address.city }}",
			customer: Customer{ID: "cus_3", Traits: map[string]any{"address": map[string]any{"city": "Kyoto"}}},
			want:     "Kyoto",
		},
		{
			name:     "data error",
			src:      "{{ customer.traits.n | divided_by: 0 }}",
			customer: Customer{ID: "cus_4", Traits: map[string]any{"n": 3.0}},
			wantErr:  true,
		},
		{
			name:     "engine panic becomes an error",
			src:      "{{ 'a' | slice: customer.traits.n }}",
			customer: Customer{ID: "cus_5", Traits: map[string]any{"n": 3.0}},
			wantErr:  true,
		},
		{
			name:     "output too large",
			src:      "{% for i in (1..300000) %}xx{% endfor %}",
			customer: Customer{ID: "cus_6"},
			wantErr:  true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := tmpl.Render(tt.customer)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("Render = %q, %v; want error %v", got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Render = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	f.Add("Hello {{ customer.traits.name | default: 'there' }}", "Ann")
	f.Add("{{ 'a' | slice: customer.traits.name }}", "x")
	f.Fuzz(func(t *testing.T, src, name string) {
		tmpl, err := Parse(src)
		if err != nil {
			return
		}
		out, err := tmpl.Render(Customer{ID: "cus_1", Traits: map[string]any{"name": name}})
		if err == nil && len(out) > MaxRenderedBytes {
			t.Fatalf("rendered %d bytes, limit %d", len(out), MaxRenderedBytes)
		}
	})
}
