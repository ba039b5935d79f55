package sqldb

import (
	"reflect"
	"slices"
	"testing"
)

func TestPlaceholders(t *testing.T) {
	if got := Placeholders(3, 0); got != "" {
		t.Errorf("Placeholders(3, 0) = %q", got)
	}
	in, args := InList(2, []string{"a", "b", "c"})
	if in != "$2, $3, $4" || !reflect.DeepEqual(args, []any{"a", "b", "c"}) {
		t.Errorf("InList = %q, %v", in, args)
	}
}

// TestSQLitePlaceholders checks bare placeholders bind in position after
// numbered ones, on a real SQLite connection.
func TestSQLitePlaceholders(t *testing.T) {
	if got := Postgres.Placeholders(2, 2); got != "$2, $3" {
		t.Errorf("Postgres.Placeholders(2, 2) = %q", got)
	}
	db, err := Open(t.Context(), Options{URL: "sqlite::memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in, args := db.Dialect.InList(3, []string{"b", "c"})
	var got string
	err = db.QueryRowContext(t.Context(), `SELECT $2 || $1 || group_concat(value, '') FROM (SELECT 'x' AS value WHERE 'b' IN (`+in+`)
		UNION ALL SELECT 'y' WHERE 'c' IN (`+in+`))`, append([]any{"1", "2"}, append(args, args...)...)...).Scan(&got)
	if err != nil {
		t.Fatal(err)
	}
	if got != "21xy" {
		t.Errorf("got %q, want 21xy", got)
	}
}

func TestRows(t *testing.T) {
	for _, tt := range []struct {
		name, got, want string
	}{
		{"Postgres.Rows(2, 3)", Postgres.Rows(2, 3), "($1, $2, $3), ($4, $5, $6)"},
		{"SQLite.Rows(2, 2)", SQLite.Rows(2, 2), "(?, ?), (?, ?)"},
		{"Postgres.Rows(2, 6)", Postgres.Rows(2, 6), "($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12)"},
		{"Postgres.Rows(0, 3)", Postgres.Rows(0, 3), ""},
		{"Postgres.Placeholders(99, 3)", Postgres.Placeholders(99, 3), "$99, $100, $101"},
		{"SQLite.Placeholders(99, 0)", SQLite.Placeholders(99, 0), ""},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if in, args := SQLite.InList(4, []string{"a", "b"}); in != "?, ?" || !reflect.DeepEqual(args, []any{"a", "b"}) {
		t.Errorf("SQLite.InList = %q, %v", in, args)
	}
}

func TestChunkRows(t *testing.T) {
	tests := []struct {
		n, limit int
		want     []int
	}{
		{0, 500, nil},
		{1, 500, []int{1}},
		{7, 500, []int{4, 2, 1}},
		{500, 500, []int{256, 128, 64, 32, 16, 4}},
		{1000, 300, []int{256, 256, 256, 128, 64, 32, 8}},
	}
	for _, tt := range tests {
		got := ChunkRows(tt.n, tt.limit)
		if !slices.Equal(got, tt.want) {
			t.Errorf("ChunkRows(%d, %d) = %v, want %v", tt.n, tt.limit, got, tt.want)
		}
	}
}
