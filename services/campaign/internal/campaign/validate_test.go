package campaign

import (
	"strings"
	"testing"
)

func TestCheckWebhookURL(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
	}{
		{url: "https://example.com/hook"},
		{url: "http://127.0.0.1:8080/x?y=1"},
		{url: "/relative", wantErr: true},
		{url: "example.com/hook", wantErr: true},
		{url: "ftp://example.com/x", wantErr: true},
		{url: "https://", wantErr: true},
		{url: "https://:80/x", wantErr: true},
		{url: "https://user:secret@example.com/x", wantErr: true},
		{url: "https://example.com/\x00", wantErr: true},
		{url: "https://example.com/" + strings.Repeat("a", MaxURLChars), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if err := checkWebhookURL(tt.url); (err != nil) != tt.wantErr {
				t.Errorf("checkWebhookURL(%q) = %v, want error %v", tt.url, err, tt.wantErr)
			}
		})
	}
}

func TestPageResolve(t *testing.T) {
	tests := []struct {
		name      string
		page      Page
		wantLimit int
		wantAfter string
		wantErr   bool
	}{
		{name: "defaults", page: Page{}, wantLimit: DefaultPageSize},
		{name: "size kept", page: Page{Size: 7}, wantLimit: 7},
		{name: "size capped", page: Page{Size: MaxPageSize + 1}, wantLimit: MaxPageSize},
		{name: "negative size", page: Page{Size: -1}, wantErr: true},
		{name: "round trip token", page: Page{Token: encodePageToken("cmp_123")}, wantLimit: DefaultPageSize, wantAfter: "cmp_123"},
		{name: "token of another kind", page: Page{Token: encodePageToken("dlv_123")}, wantErr: true},
		{name: "not base64", page: Page{Token: "!!"}, wantErr: true},
		{name: "NUL in token", page: Page{Token: encodePageToken("cmp_\x00")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit, after, err := tt.page.resolve(CampaignIDPrefix)
			if (err != nil) != tt.wantErr {
				t.Fatalf("resolve = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && (limit != tt.wantLimit || after != tt.wantAfter) {
				t.Errorf("resolve = %d, %q; want %d, %q", limit, after, tt.wantLimit, tt.wantAfter)
			}
		})
	}
}
