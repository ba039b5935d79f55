package tracking

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Type is the Segment call a message came from.
type Type string

// The Segment call types.
const (
	Identify Type = "identify"
	Track    Type = "track"
	Page     Type = "page"
	Screen   Type = "screen"
	Group    Type = "group"
	Alias    Type = "alias"
)

// OrderCompleted is the Segment e-commerce event that records a purchase.
const OrderCompleted = "Order Completed"

// Message is one validated tracking call.
type Message struct {
	Type        Type
	MessageID   string
	UserID      string
	AnonymousID string
	// Timestamp is when the event happened, in UTC.
	Timestamp  time.Time
	Context    map[string]any
	Traits     map[string]any
	Properties map[string]any
	// Name is the track event name, or the page or screen name.
	Name       string
	Category   string
	GroupID    string
	PreviousID string
	// Order is set for Order Completed track events.
	Order *Order
}

// Order is the purchase an Order Completed event describes.
type Order struct {
	OrderID  string
	Revenue  float64
	Currency string
}

// UserTrait returns a trait a message of type t states about its user:
// identify traits, else context.traits. Group traits describe the group,
// not the user.
func UserTrait(t Type, traits, context map[string]any, name string) string {
	if t == Identify {
		if s, ok := traits[name].(string); ok {
			return s
		}
	}
	if ct, ok := context["traits"].(map[string]any); ok {
		if s, ok := ct[name].(string); ok {
			return s
		}
	}
	return ""
}

// orderFrom reads the Segment e-commerce spec fields of an Order Completed
// event. A missing order_id falls back to the message id so the purchase is
// still counted once.
func orderFrom(props map[string]any, messageID string) (o *Order, field string, err error) {
	o = &Order{OrderID: messageID}
	if id, ok := props["order_id"]; ok && id != nil {
		s, err := scalarText(id)
		if err != nil {
			return nil, "order_id", err
		}
		if s != "" {
			o.OrderID = s
		}
	}
	for _, key := range []string{"revenue", "total"} {
		v, ok := props[key]
		if !ok || v == nil {
			continue
		}
		f, err := number(v)
		if err != nil {
			return nil, key, err
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, key, fmt.Errorf("must be a finite number")
		}
		if math.Abs(f) > MaxAmount {
			return nil, key, fmt.Errorf("%g is implausible: an amount must be at most %g in absolute value", f, MaxAmount)
		}
		o.Revenue = f
		break
	}
	if c, ok := props["currency"].(string); ok {
		o.Currency = strings.ToUpper(strings.TrimSpace(c))
	}
	return o, "", nil
}

func scalarText(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", fmt.Errorf("must be a string or a number")
	}
}

// number accepts JSON numbers and numeric strings ("1200", "19.99"), which
// real tracking plans send for money.
func number(v any) (float64, error) {
	switch x := v.(type) {
	case float64:
		return x, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("must be a number, got %q", x)
		}
		return f, nil
	default:
		return 0, fmt.Errorf("must be a number")
	}
}
