package campaign_test

import (
	"fmt"
	"testing"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/smtptest"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// TestMarketingConsent broadcasts e-mail to a customer who granted
// marketing_email, one who withdrew it and one who never said, in a
// workspace that requires consent and in one that does not, then sends a
// transactional mail: withdrawn (and, when required, never granted)
// marketing sends are skipped with NO_CONSENT; transactional ones go out.
func TestMarketingConsent(t *testing.T) {
	customers := []string{"cus_granted", "cus_withdrawn", "cus_silent"}
	for _, required := range []bool{false, true} {
		t.Run(fmt.Sprintf("require_consent=%t", required), func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, db *sqldb.DB, b *bus.Bus) {
				traits := map[string]map[string]any{}
				for _, id := range customers {
					traits[id] = map[string]any{"email": id + "@example.com"}
				}
				env := startJourneysIn(t, db, b,
					&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": customers}}},
					&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}, consents: map[string]map[string]bool{
						"cus_granted":   {"marketing_email": true, "analytics": false},
						"cus_withdrawn": {"marketing_email": false, "marketing_line": true},
					}},
					fakeWorkspaces{requireConsent: required})
				srv := smtptest.Start(t)
				ch, err := env.channels.CreateChannel(as(keyA), &campaignv1.CreateChannelRequest{Channel: &campaignv1.Channel{
					DisplayName: "Mail",
					Config: &campaignv1.Channel_Email{Email: &campaignv1.EmailChannel{
						Host: srv.Host(), Port: int32(srv.Port()), Security: campaignv1.Security_NONE, FromAddress: "shop@example.com",
					}},
				}})
				if err != nil {
					t.Fatal(err)
				}
				chID := ch.GetChannel().GetChannelId()
				for _, transactional := range []bool{false, true} {
					id, _ := env.run(t, &campaignv1.Journey{
						DisplayName: "Mail",
						Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Broadcast{Broadcast: &campaignv1.BroadcastEntry{SegmentId: "seg_1"}}},
						Steps: []*campaignv1.Step{{Id: "send", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{
							ChannelId: chID, Subject: "News", Text: "Hello", Transactional: transactional,
						}}}},
					})
					want := map[string]campaignv1.SendStatus{
						"cus_granted":   campaignv1.SendStatus_SENT,
						"cus_withdrawn": campaignv1.SendStatus_SKIPPED,
						"cus_silent":    campaignv1.SendStatus_SENT,
					}
					if required {
						want["cus_silent"] = campaignv1.SendStatus_SKIPPED
					}
					if transactional {
						for c := range want {
							want[c] = campaignv1.SendStatus_SENT
						}
					}
					for _, c := range customers {
						sends, err := env.journeys.ListCustomerSends(as(keyA), &campaignv1.ListCustomerSendsRequest{CustomerId: c})
						if err != nil {
							t.Fatal(err)
						}
						var got *campaignv1.Send
						for _, sd := range sends.GetSends() {
							if sd.GetJourneyId() == id {
								got = sd
							}
						}
						if got.GetStatus() != want[c] {
							t.Errorf("transactional=%t: %s send = %v (%s), want %v", transactional, c, got.GetStatus(), got.GetError(), want[c])
						}
						if got.GetStatus() == campaignv1.SendStatus_SKIPPED && (got.GetReason() != campaignv1.SkipReason_NO_CONSENT || got.GetError() == "") {
							t.Errorf("%s skipped with %v %q, want NO_CONSENT with the purpose", c, got.GetReason(), got.GetError())
						}
					}
				}
			})
		})
	}
}
