package imports_test

import (
	"errors"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
)

func TestCheckChunk(t *testing.T) {
	uploading := imports.Import{ID: "imp_1", State: imports.ImportUploading, BytesTotal: 10}
	running := imports.Import{ID: "imp_1", State: imports.ImportRunning, BytesTotal: 10}
	tests := []struct {
		name         string
		im           imports.Import
		offset, size int64
		retry        bool
		reason       string
		tooLarge     bool
	}{
		{name: "next chunk", im: uploading, offset: 10, size: 5},
		{name: "first chunk", im: imports.Import{State: imports.ImportUploading}, offset: 0, size: 5},
		{name: "retry of a stored chunk", im: uploading, offset: 4, size: 6, retry: true},
		{name: "overlapping the end", im: uploading, offset: 8, size: 5, reason: "IMPORT_OFFSET_MISMATCH"},
		{name: "gap", im: uploading, offset: 12, size: 1, reason: "IMPORT_OFFSET_MISMATCH"},
		{name: "past the limit", im: uploading, offset: 10, size: 11, tooLarge: true},
		{name: "up to the limit", im: uploading, offset: 10, size: 10},
		{name: "after the upload", im: running, offset: 10, size: 1, reason: "IMPORT_NOT_UPLOADING"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, err := tt.im.CheckChunk(tt.offset, tt.size, 20)
			if retry != tt.retry || conflict.Reason(err) != tt.reason || errors.Is(err, imports.ErrImportTooLarge) != tt.tooLarge ||
				(err == nil) != (tt.reason == "" && !tt.tooLarge) {
				t.Errorf("CheckChunk(%d, %d) = %v, %v", tt.offset, tt.size, retry, err)
			}
		})
	}
}

func TestCheckStart(t *testing.T) {
	tests := []struct {
		name   string
		im     imports.Import
		start  bool
		reason string
	}{
		{"uploaded", imports.Import{State: imports.ImportUploading, BytesTotal: 1}, true, ""},
		{"no file", imports.Import{State: imports.ImportUploading}, false, "IMPORT_EMPTY"},
		{"already running", imports.Import{State: imports.ImportRunning, BytesTotal: 1}, false, ""},
		{"already done", imports.Import{State: imports.ImportSucceeded, BytesTotal: 1}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, err := tt.im.CheckStart()
			if start != tt.start || conflict.Reason(err) != tt.reason || (err == nil) != (tt.reason == "") {
				t.Errorf("CheckStart = %v, %v; want %v, %q", start, err, tt.start, tt.reason)
			}
		})
	}
}
