package ingest_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestIngestDifferential stores one random stream twice — one message per
// call, and in batches of random size — and checks that both give the same
// customers, identities, events, merges and outbox, on every backend. The
// stream shares user ids, anonymous ids and e-mails across messages, so it
// merges customers, repeats message ids and aliases; halfway through, the
// latest merge is undone in both databases.
func TestIngestDifferential(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			stream := randomStream(t, seed, 300)
			var dumps [2]string
			sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
				one := ingestStream(t, db, stream, func(int) int { return 1 })
				// A second database of the same backend, batches of 1–120.
				other := sqldbtest.SQLite(t)
				if db.Dialect == sqldb.Postgres {
					other = sqldbtest.Postgres(t)
				}
				r := rand.New(rand.NewPCG(seed, 99))
				batched := ingestStream(t, other, stream, func(left int) int { return min(left, 1+r.IntN(120)) })
				if !strings.Contains(one, "| undone |") || strings.Count(one, "| applied |") == 0 {
					t.Fatalf("the stream should merge and undo a merge; tables:\n%s", one)
				}
				if one != batched {
					t.Fatalf("one message per call and batches differ:\n%s", sqldbtest.LineDiff(one, batched))
				}
				// A third, batches of 1–40 stored 2–6 to a transaction, as
				// the group-commit writer stores concurrent callers'.
				third := sqldbtest.SQLite(t)
				if db.Dialect == sqldb.Postgres {
					third = sqldbtest.Postgres(t)
				}
				grouped := ingestStreamGrouped(t, third, stream, func(left int) int { return min(left, 1+r.IntN(40)) }, func() int { return 2 + r.IntN(5) })
				if one != grouped {
					t.Fatalf("one message per call and grouped batches differ:\n%s", sqldbtest.LineDiff(one, grouped))
				}
				i := 0
				if db.Dialect == sqldb.Postgres {
					i = 1
				}
				dumps[i] = one
			})
			if dumps[0] != "" && dumps[1] != "" && dumps[0] != dumps[1] {
				t.Fatalf("SQLite and PostgreSQL differ:\n%s", sqldbtest.LineDiff(dumps[0], dumps[1]))
			}
		})
	}
}

// randomStream returns n messages over small pools of ids and e-mails.
func randomStream(t *testing.T, seed uint64, n int) []tracking.Message {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 7))
	pick := func(prefix string, k int) string { return fmt.Sprintf("%s-%d", prefix, r.IntN(k)) }
	var out []tracking.Message
	var ids []string
	for i := range n {
		id := fmt.Sprintf("m-%d", i)
		if len(ids) > 0 && r.IntN(15) == 0 {
			id = ids[r.IntN(len(ids))] // a retried message
		}
		ids = append(ids, id)
		ts := fmt.Sprintf("2026-10-%02dT%02d:00:00Z", 1+r.IntN(28), r.IntN(24))
		who := ""
		switch r.IntN(3) {
		case 0:
			who = fmt.Sprintf(`"userId":%q`, pick("u", 8))
		case 1:
			who = fmt.Sprintf(`"anonymousId":%q`, pick("a", 12))
		default:
			who = fmt.Sprintf(`"userId":%q,"anonymousId":%q`, pick("u", 8), pick("a", 12))
		}
		var js string
		switch k := r.IntN(10); {
		case k < 3:
			traits := fmt.Sprintf(`{"plan":%q,"name":%q`, pick("plan", 3), pick("name", 5))
			if r.IntN(2) == 0 {
				traits += fmt.Sprintf(`,"email":"%s@example.jp"`, pick("mail", 6))
			}
			if r.IntN(4) == 0 {
				// A few mobiles shared by people of different names: the
				// shared-mobile rule reads traits back in mid-batch.
				traits += fmt.Sprintf(`,"phone":"090-1234-000%d"`, r.IntN(3))
			}
			if r.IntN(4) == 0 {
				traits += fmt.Sprintf(`,"consent":{"marketing_email":%t}`, r.IntN(2) == 0)
			}
			js = fmt.Sprintf(`{"type":"identify","messageId":%q,%s,"traits":%s},"timestamp":%q}`, id, who, traits, ts)
		case k < 7:
			js = fmt.Sprintf(`{"type":"track","messageId":%q,%s,"event":%q,"properties":{"n":%d},"timestamp":%q}`, id, who, pick("Event", 3), r.IntN(100), ts)
		case k < 9:
			ctx := ""
			if r.IntN(3) == 0 {
				ctx = fmt.Sprintf(`,"context":{"traits":{"email":"%s@example.jp"}}`, pick("mail", 6))
			}
			js = fmt.Sprintf(`{"type":"page","messageId":%q,%s,"name":"Pricing","timestamp":%q%s}`, id, who, ts, ctx)
		default:
			js = fmt.Sprintf(`{"type":"alias","messageId":%q,"userId":%q,"previousId":%q,"timestamp":%q}`, id, pick("u", 8), pick("a", 12), ts)
		}
		out = append(out, messages(t, `{"batch":[`+js+`]}`)...)
	}
	return out
}

// ingestStream stores stream in calls of size(left) messages (undoing the
// latest merge halfway) and returns the database's canonical dump.
func ingestStream(t *testing.T, db *sqldb.DB, stream []tracking.Message, size func(left int) int) string {
	return ingestStreamGrouped(t, db, stream, size, func() int { return 1 })
}

// ingestStreamGrouped is ingestStream with groups of batches stored in one
// transaction each, groups counting batches.
func ingestStreamGrouped(t *testing.T, db *sqldb.DB, stream []tracking.Message, size func(left int) int, groups func() int) string {
	t.Helper()
	st := openStore(t, db)
	// A fixed clock: receive times are then t0 plus one microsecond per
	// message, the same in every run.
	in := ingest.New(store.For[ingest.Tx](st), func() time.Time { return t0 }, nil)
	half := len(stream) / 2
	for pi, part := range [][]tracking.Message{stream[:half], stream[half:]} {
		for len(part) > 0 {
			var group [][]tracking.Message
			for g := groups(); g > 0 && len(part) > 0; g-- {
				n := size(len(part))
				// Within one request a repeated message id is refused;
				// such calls go one message at a time.
				if hasRepeat(part[:n]) {
					n = 1
				}
				group = append(group, slices.Clone(part[:n]))
				part = part[n:]
			}
			var err error
			if len(group) == 1 {
				_, err = in.Ingest(context.Background(), "ws1", group[0])
			} else {
				_, err = in.StoreGroupForTest(context.Background(), "ws1", group)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if pi == 0 {
			undoLatestMerge(t, db, st)
		}
	}
	return dump(t, db)
}

func hasRepeat(msgs []tracking.Message) bool {
	seen := map[string]bool{}
	for _, m := range msgs {
		if seen[m.MessageID] {
			return true
		}
		seen[m.MessageID] = true
	}
	return false
}

func undoLatestMerge(t *testing.T, db *sqldb.DB, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	var id string
	err := db.QueryRowContext(ctx, `SELECT merge_id FROM merges WHERE workspace_id = 'ws1' ORDER BY merge_time DESC LIMIT 1`).Scan(&id)
	if err == sql.ErrNoRows {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		_, err := ingest.Undo(ctx, tx, "ws1", id, t0.Add(time.Hour))
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// dump renders ingestion's tables with generated ids replaced by what
// names them in both runs: a customer by its create time (the receive time
// of the message that created it), a merge by its merge time.
func dump(t *testing.T, db *sqldb.DB) string {
	t.Helper()
	names := map[string]string{}
	for _, q := range []string{
		`SELECT customer_id, 'c' || CAST(create_time AS TEXT) FROM customers`,
		`SELECT merge_id, 'm' || CAST(merge_time AS TEXT) FROM merges`,
	} {
		for _, row := range sqldbtest.Rows(t, db, q) {
			names[row[0]] = row[1]
		}
	}
	rename := func(s string) string {
		for id, name := range names {
			s = strings.ReplaceAll(s, id, name)
		}
		return s
	}
	return sqldbtest.Dump(t, db, rename,
		`SELECT customer_id, user_id, traits, merged_into, create_time, update_time, first_seen, last_seen, event_count, identity_traits, trait_times, consents FROM customers`,
		`SELECT customer_a, customer_b, score, reasons, state FROM merge_suggestions`,
		`SELECT kind, value, customer_id, create_time FROM identities`,
		`SELECT event_id, customer_id, type, name, user_id, anonymous_id, event_time, receive_time, properties, traits, context FROM events`,
		`SELECT merge_id, survivor_id, merged_ids, source, state, moved_events, undo_time, redirects FROM merges`,
		`SELECT merge_id, event_id, customer_id FROM merge_events`,
		`SELECT merge_id, kind, value, customer_id FROM merge_identities`,
		`SELECT kind, msg_id FROM outbox WHERE kind <> 'unmerged' ORDER BY seq`,
		`SELECT COUNT(*) FROM outbox WHERE kind = 'unmerged'`,
	)
}
