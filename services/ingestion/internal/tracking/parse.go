package tracking

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Segment's documented limits.
const (
	MaxBatchMessages = 2500
	MaxBatchBytes    = 500 * 1024
	MaxMessageBytes  = 32 * 1024
	// MaxIDLength bounds every id a request carries.
	MaxIDLength   = 512
	maxNameLength = 1024
	// MaxFuture is how far ahead of its receipt an event may be dated; a
	// later timestamp is a broken clock or a typo, and would sit in every
	// "last N days" window for years.
	MaxFuture = 24 * time.Hour
	// MaxAmount bounds an order's revenue: more is a unit mistake or an
	// attack, and one such order makes every revenue KPI meaningless.
	MaxAmount = 1e12
)

// raw is the common shape of every Segment call before validation.
type raw struct {
	typ                                        string
	messageID, userID, anonymousID             string
	timestamp, originalTimestamp, sentAt       string
	context, traits, properties                *structpb.Struct
	event, name, category, groupID, previousID string
	size                                       int
}

// batchSizes returns the encoded size of each message of req and of req
// as a whole, measuring every message once (proto.Size of the request
// walked them all again: 3 % of the suite's CPU under batches): a
// repeated message field is a tag, a length and the message.
func batchSizes(req *ingestionv1.BatchRequest) ([]int, int) {
	sizes := make([]int, len(req.GetBatch()))
	total := proto.Size(&ingestionv1.BatchRequest{SentAt: req.GetSentAt(), Context: req.GetContext(), Integrations: req.GetIntegrations()}) +
		len(req.ProtoReflect().GetUnknown()) // fields of a newer client count too
	for i, b := range req.GetBatch() {
		sizes[i] = proto.Size(b)
		total += batchFieldTag + protowire.SizeBytes(sizes[i])
	}
	return sizes, total
}

// batchFieldTag is the size of the tag of BatchRequest.batch.
var batchFieldTag = protowire.SizeTag((&ingestionv1.BatchRequest{}).ProtoReflect().Descriptor().Fields().ByName("batch").Number())

// ParseBatch validates a batch and returns its messages; now is the receipt
// time used when a message carries no timestamp.
func ParseBatch(req *ingestionv1.BatchRequest, now time.Time) ([]Message, error) {
	var v validation.Error
	sizes, total := batchSizes(req)
	if total > MaxBatchBytes {
		v.Addf("batch", "batch is %d bytes, over the %d-byte limit", total, MaxBatchBytes)
		return nil, v.Err()
	}
	switch n := len(req.GetBatch()); {
	case n == 0:
		v.Addf("batch", "must hold at least one message")
		return nil, v.Err()
	case n > MaxBatchMessages:
		v.Addf("batch", "holds %d messages, over the limit of %d", n, MaxBatchMessages)
		return nil, v.Err()
	}
	msgs := make([]Message, 0, len(req.GetBatch()))
	for i, b := range req.GetBatch() {
		r := raw{
			typ: b.GetType(), messageID: b.GetMessageId(), userID: b.GetUserId(), anonymousID: b.GetAnonymousId(),
			timestamp: b.GetTimestamp(), originalTimestamp: b.GetOriginalTimestamp(), sentAt: firstNonEmpty(b.GetSentAt(), req.GetSentAt()),
			context: mergeContext(req.GetContext(), b.GetContext()), traits: b.GetTraits(), properties: b.GetProperties(),
			event: b.GetEvent(), name: b.GetName(), category: b.GetCategory(), groupID: b.GetGroupId(), previousID: b.GetPreviousId(),
			size: sizes[i],
		}
		m, ok := r.parse(i, now, &v)
		if ok {
			msgs = append(msgs, m)
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if err := uniqueIDs(msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// ParseBatchMessage validates one message of the batch form on its own,
// as ParseBatch would: bulk imports turn each row into one and reject the
// rows that fail, one by one.
func ParseBatchMessage(b *ingestionv1.BatchMessage, now time.Time) (Message, error) {
	r := raw{
		typ: b.GetType(), messageID: b.GetMessageId(), userID: b.GetUserId(), anonymousID: b.GetAnonymousId(),
		timestamp: b.GetTimestamp(), originalTimestamp: b.GetOriginalTimestamp(), sentAt: b.GetSentAt(),
		context: b.GetContext(), traits: b.GetTraits(), properties: b.GetProperties(),
		event: b.GetEvent(), name: b.GetName(), category: b.GetCategory(), groupID: b.GetGroupId(), previousID: b.GetPreviousId(),
		size: proto.Size(b),
	}
	return parseOne(r, now)
}

// uniqueIDs rejects a batch that repeats a message id with different content:
// storing one and dropping the other would lose data silently. Exact repeats
// are fine and stored once.
func uniqueIDs(msgs []Message) error {
	seen := make(map[string]int, len(msgs))
	var v validation.Error
	for i, m := range msgs {
		if j, ok := seen[m.MessageID]; ok && (msgs[j].Type != m.Type || msgs[j].Name != m.Name || msgs[j].UserID != m.UserID || msgs[j].AnonymousID != m.AnonymousID) {
			v.Addf(fmt.Sprintf("batch[%d].messageId", i), "repeats the message id of batch[%d] with different content", j)
			continue
		}
		seen[m.MessageID] = i
	}
	return v.Err()
}

// call is what every single-message Segment request has in common.
type call interface {
	proto.Message
	GetMessageId() string
	GetUserId() string
	GetAnonymousId() string
	GetTimestamp() string
	GetOriginalTimestamp() string
	GetSentAt() string
	GetContext() *structpb.Struct
}

// common fills the fields every call type shares.
func common(typ Type, req call) raw {
	return raw{typ: string(typ), messageID: req.GetMessageId(), userID: req.GetUserId(), anonymousID: req.GetAnonymousId(),
		timestamp: req.GetTimestamp(), originalTimestamp: req.GetOriginalTimestamp(), sentAt: req.GetSentAt(), context: req.GetContext(), size: proto.Size(req)}
}

// ParseIdentify validates an identify call.
func ParseIdentify(req *ingestionv1.IdentifyRequest, now time.Time) (Message, error) {
	r := common(Identify, req)
	r.traits = req.GetTraits()
	return parseOne(r, now)
}

// ParseTrack validates a track call.
func ParseTrack(req *ingestionv1.TrackRequest, now time.Time) (Message, error) {
	r := common(Track, req)
	r.properties, r.event = req.GetProperties(), req.GetEvent()
	return parseOne(r, now)
}

// ParsePage validates a page call.
func ParsePage(req *ingestionv1.PageRequest, now time.Time) (Message, error) {
	r := common(Page, req)
	r.properties, r.name, r.category = req.GetProperties(), req.GetName(), req.GetCategory()
	return parseOne(r, now)
}

// ParseScreen validates a screen call.
func ParseScreen(req *ingestionv1.ScreenRequest, now time.Time) (Message, error) {
	r := common(Screen, req)
	r.properties, r.name, r.category = req.GetProperties(), req.GetName(), req.GetCategory()
	return parseOne(r, now)
}

// ParseGroup validates a group call.
func ParseGroup(req *ingestionv1.GroupRequest, now time.Time) (Message, error) {
	r := common(Group, req)
	r.traits, r.groupID = req.GetTraits(), req.GetGroupId()
	return parseOne(r, now)
}

// ParseAlias validates an alias call.
func ParseAlias(req *ingestionv1.AliasRequest, now time.Time) (Message, error) {
	r := common(Alias, req)
	r.previousID = req.GetPreviousId()
	return parseOne(r, now)
}

func parseOne(r raw, now time.Time) (Message, error) {
	var v validation.Error
	m, _ := r.parse(-1, now, &v)
	return m, v.Err()
}

// parse checks one message, adding violations under the field path of
// message index of a batch ("batch[3].userId"), or of a single call when
// index is negative ("userId"); ok is false when any were found.
func (r raw) parse(index int, now time.Time, v *validation.Error) (Message, bool) {
	before := len(v.Violations)
	// Paths are built only for violations: formatting a prefix for every
	// message of a batch cost an allocation each.
	field := func(name string) string {
		if index < 0 {
			return name
		}
		return "batch[" + strconv.Itoa(index) + "]." + name
	}
	m := Message{
		Type: Type(r.typ), MessageID: strings.TrimSpace(r.messageID),
		UserID: strings.TrimSpace(r.userID), AnonymousID: strings.TrimSpace(r.anonymousID),
		Context: r.context.AsMap(), Traits: r.traits.AsMap(), Properties: r.properties.AsMap(),
		Category: strings.TrimSpace(r.category), GroupID: strings.TrimSpace(r.groupID), PreviousID: strings.TrimSpace(r.previousID),
	}
	if r.size > MaxMessageBytes {
		v.Addf(field("message"), "message is %d bytes, over the %d-byte limit", r.size, MaxMessageBytes)
	}
	switch m.Type {
	case Identify, Group, Alias:
	case Track:
		m.Name = strings.TrimSpace(r.event)
		if m.Name == "" {
			v.Addf(field("event"), "is required for track calls")
		}
	case Page, Screen:
		m.Name = strings.TrimSpace(r.name)
	case "":
		v.Addf(field("type"), "is required: one of identify, track, page, screen, group, alias")
	default:
		v.Addf(field("type"), "unknown type %q: must be one of identify, track, page, screen, group, alias", r.typ)
	}
	if m.UserID == "" && m.AnonymousID == "" {
		v.Addf(field("userId"), "userId or anonymousId is required")
	}
	if m.Type == Group && m.GroupID == "" {
		v.Addf(field("groupId"), "is required for group calls")
	}
	if m.Type == Alias {
		if m.PreviousID == "" {
			v.Addf(field("previousId"), "is required for alias calls")
		}
		if m.UserID == "" {
			v.Addf(field("userId"), "is required for alias calls")
		}
	}
	// Arrays, not map literals: a map per message was a tenth of parsing.
	ids := [...]struct{ name, val string }{{"messageId", m.MessageID}, {"userId", m.UserID}, {"anonymousId", m.AnonymousID}, {"groupId", m.GroupID}, {"previousId", m.PreviousID}}
	for _, id := range ids {
		if len(id.val) > MaxIDLength {
			v.Addf(field(id.name), "is %d characters, over the limit of %d", len(id.val), MaxIDLength)
		}
	}
	if len(m.Name) > maxNameLength {
		v.Addf(field("name"), "is %d characters, over the limit of %d", len(m.Name), maxNameLength)
	}
	// NUL is valid JSON and UTF-8, but PostgreSQL stores it in neither TEXT
	// nor JSONB: refused here, it never fails a whole batch at the commit.
	texts := [...]struct{ name, val string }{{"messageId", m.MessageID}, {"userId", m.UserID}, {"anonymousId", m.AnonymousID},
		{"groupId", m.GroupID}, {"previousId", m.PreviousID}, {"event", r.event}, {"name", r.name}, {"category", m.Category}}
	for _, t := range texts {
		if strings.IndexByte(t.val, 0) >= 0 {
			v.Addf(field(t.name), "must not contain NUL characters")
		}
	}
	// The maps just made are checked, not the structs: converting each
	// again was a third of parsing.
	structs := [...]struct {
		name string
		m    map[string]any
	}{{"traits", m.Traits}, {"properties", m.Properties}, {"context", m.Context}}
	for _, st := range structs {
		if path := nulPath(st.m, st.name, 0); path != "" {
			v.Addf(field(path), "must not contain NUL characters")
		}
	}
	ts, err := eventTime(r.timestamp, r.originalTimestamp, r.sentAt, now)
	if err == nil && ts.After(now.Add(MaxFuture)) {
		err = fmt.Errorf("%s is more than %s after its receipt (%s)", ts.Format(time.RFC3339), MaxFuture, now.UTC().Format(time.RFC3339))
	}
	if err != nil {
		v.Addf(field("timestamp"), "%v", err)
	}
	m.Timestamp = ts
	if m.MessageID == "" {
		m.MessageID = contentID(r)
	}
	if m.Type == Track && strings.EqualFold(m.Name, OrderCompleted) {
		o, name, err := orderFrom(m.Properties, m.MessageID)
		if err != nil {
			v.Addf(field("properties."+name), "%v", err)
		}
		m.Order = o
	}
	return m, len(v.Violations) == before
}

// nulPath returns the path of the first key or string holding NUL in v,
// in key order, or "".
func nulPath(v any, path string, depth int) string {
	// Almost no message holds NUL: look for one first without building
	// paths or sorting keys, which cost more than the look itself.
	if !hasNUL(v, depth) {
		return ""
	}
	return nulPathSorted(v, path, depth)
}

// hasNUL reports whether nulPathSorted would find a NUL in v.
func hasNUL(v any, depth int) bool {
	if depth > 64 {
		return false
	}
	switch x := v.(type) {
	case string:
		return strings.IndexByte(x, 0) >= 0
	case map[string]any:
		for k, e := range x {
			if strings.IndexByte(k, 0) >= 0 || hasNUL(e, depth+1) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasNUL(e, depth+1) {
				return true
			}
		}
	}
	return false
}

func nulPathSorted(v any, path string, depth int) string {
	if depth > 64 {
		return ""
	}
	switch x := v.(type) {
	case string:
		if strings.ContainsRune(x, 0) {
			return path
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.ContainsRune(k, 0) {
				return path
			}
			if p := nulPathSorted(x[k], path+"."+k, depth+1); p != "" {
				return p
			}
		}
	case []any:
		for i, e := range x {
			if p := nulPathSorted(e, fmt.Sprintf("%s[%d]", path, i), depth+1); p != "" {
				return p
			}
		}
	}
	return ""
}

// contentID gives a message without a messageId a stable id derived from its
// content, so a client retrying the same call is still deduplicated.
func contentID(r raw) string {
	h := sha256.New()
	for _, s := range []string{r.typ, r.userID, r.anonymousID, r.timestamp, r.originalTimestamp, r.event, r.name, r.category, r.groupID, r.previousID} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	for _, s := range []*structpb.Struct{r.traits, r.properties} {
		b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(s)
		h.Write(b)
		h.Write([]byte{0})
	}
	return "auto-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// timeLayouts are the ISO 8601 forms Segment libraries send.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02",
}

var errBadTime = errors.New("must be an ISO 8601 date-time such as 2026-01-02T15:04:05Z")

// eventTime picks the event's time as Segment does: timestamp when the
// caller set it; else originalTimestamp corrected for the device's clock
// skew when sentAt says when the device sent it (receipt − (sentAt −
// originalTimestamp): a phone whose clock is an hour fast still dates its
// events right); else originalTimestamp as given; else the receipt time.
// Times without a zone are taken as UTC.
func eventTime(timestamp, original, sentAt string, now time.Time) (time.Time, error) {
	if s := strings.TrimSpace(timestamp); s != "" {
		return parseTime(s)
	}
	s := strings.TrimSpace(original)
	if s == "" {
		return now.UTC(), nil
	}
	t, err := parseTime(s)
	if err != nil {
		return time.Time{}, err
	}
	if sent := strings.TrimSpace(sentAt); sent != "" {
		if st, err := parseTime(sent); err == nil {
			return now.UTC().Add(-st.Sub(t)), nil
		}
	}
	return t, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1970 || t.Year() > 9999 {
				return time.Time{}, fmt.Errorf("year %d is out of range", t.Year())
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q %w", s, errBadTime)
}

// mergeContext applies a batch-level context under each message's own.
func mergeContext(batch, msg *structpb.Struct) *structpb.Struct {
	if len(batch.GetFields()) == 0 {
		return msg
	}
	out := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(batch.GetFields())+len(msg.GetFields()))}
	for k, v := range batch.GetFields() {
		out.Fields[k] = v
	}
	for k, v := range msg.GetFields() {
		out.Fields[k] = v
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
