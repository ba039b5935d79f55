package ledger

import (
	"fmt"
	"strings"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
)

// SendIDPrefix marks journey send outcomes on the deliveries stream (their
// message id is the send id); campaign deliveries share the stream.
const SendIDPrefix = "snd_"

// Send is the final outcome of one journey send.
type Send struct {
	WorkspaceID, SendID, CustomerID string
	// Channel is the channel type: EMAIL, LINE or WEBHOOK.
	Channel   string
	JourneyID string
	// Status is SENT or FAILED.
	Status string
	Time   time.Time
}

// SendFromProto converts a send outcome; ok is false for outcomes that are
// not a send attempt's end (skipped, pending, deferred).
func SendFromProto(o *campaignv1.SendOutcome) (s Send, ok bool, err error) {
	switch o.GetStatus() {
	case campaignv1.SendStatus_SENT, campaignv1.SendStatus_FAILED:
	default:
		return Send{}, false, nil
	}
	s = Send{
		WorkspaceID: o.GetWorkspaceId(), SendID: o.GetSendId(), CustomerID: o.GetCustomerId(), JourneyID: o.GetJourneyId(),
		Channel: strings.TrimPrefix(o.GetChannelType().String(), "CHANNEL_TYPE_"), Status: o.GetStatus().String(),
	}
	for _, f := range []struct{ name, v string }{
		{"workspace_id", s.WorkspaceID}, {"send_id", s.SendID}, {"customer_id", s.CustomerID},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return Send{}, false, err
		}
	}
	if len(s.JourneyID) > MaxIDLen {
		return Send{}, false, fmt.Errorf("%w: send %s: journey id too long", ErrMalformed, s.SendID)
	}
	switch {
	case o.GetSendTime().IsValid():
		s.Time = o.GetSendTime().AsTime()
	case o.GetPlannedTime().IsValid():
		s.Time = o.GetPlannedTime().AsTime()
	default:
		return Send{}, false, fmt.Errorf("%w: send %s has no time", ErrMalformed, s.SendID)
	}
	return s, true, nil
}

// Exposure is a customer's exposure to a journey's experiment arm, read
// from a send outcome.
type Exposure struct {
	WorkspaceID, JourneyID, CustomerID, SendID string
	// Variant is "holdout", an A/B variant's name, or "treatment" for a
	// send of a journey without variants.
	Variant string
	Time    time.Time
}

// ExposureFromProto reads the exposure a send outcome records: a send
// attempted (SENT or FAILED: assigned and sent, intent to treat) or a
// holdout skip at its planned time. Other skips (no consent, frequency
// cap, …) expose nobody; ok is false for them.
func ExposureFromProto(o *campaignv1.SendOutcome) (e Exposure, ok bool, err error) {
	switch {
	case o.GetStatus() == campaignv1.SendStatus_SENT, o.GetStatus() == campaignv1.SendStatus_FAILED:
	case o.GetStatus() == campaignv1.SendStatus_SKIPPED && o.GetReason() == campaignv1.SkipReason_HOLDOUT:
	default:
		return Exposure{}, false, nil
	}
	e = Exposure{WorkspaceID: o.GetWorkspaceId(), JourneyID: o.GetJourneyId(), CustomerID: o.GetCustomerId(), SendID: o.GetSendId(),
		Variant: o.GetVariant()}
	if e.Variant == "" {
		e.Variant = "treatment"
	}
	for _, f := range []struct{ name, v string }{
		{"workspace_id", e.WorkspaceID}, {"journey_id", e.JourneyID}, {"customer_id", e.CustomerID}, {"send_id", e.SendID}, {"variant", e.Variant},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return Exposure{}, false, err
		}
	}
	switch {
	case o.GetStatus() != campaignv1.SendStatus_SKIPPED && o.GetSendTime().IsValid():
		e.Time = o.GetSendTime().AsTime()
	case o.GetPlannedTime().IsValid():
		e.Time = o.GetPlannedTime().AsTime()
	default:
		return Exposure{}, false, fmt.Errorf("%w: send %s has no time", ErrMalformed, e.SendID)
	}
	return e, true, nil
}
