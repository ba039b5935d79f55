package segment

import (
	"fmt"
	"math"
	"time"

	"github.com/kizuna/kizuna/services/analytics/rfm"
)

// Scores are a customer's RFM quintile scores within the workspace, 1–5
// with 5 best.
type Scores struct {
	Recency   int32
	Frequency int32
	Monetary  int32
}

// ScoreRFM scores every purchasing customer in stats against the others
// with the shared analytics/rfm quintiles (ties share a score), and
// returns the scores in stats' order, zero (no score) for a customer
// without orders. Recency is measured in whole days since the last order,
// so orders on the same day tie and scores move only when a day boundary
// passes; frequency is the order count and monetary the total revenue.
func ScoreRFM(stats []OrderStats, now time.Time) ([]Scores, error) {
	inputs := make([]rfm.Customer, 0, len(stats))
	at := make([]int, 0, len(stats)) // inputs[j] is stats[at[j]]
	for i, s := range stats {
		if s.Count <= 0 {
			continue
		}
		at = append(at, i)
		days := math.Floor(now.Sub(s.LastOrder).Hours() / 24)
		if days < 0 {
			days = 0 // an order stamped in the future is as recent as today
		}
		inputs = append(inputs, rfm.Customer{ID: s.CustomerID, RecencyDays: days, Frequency: float64(s.Count), Monetary: s.Revenue})
	}
	scored, err := rfm.Score(inputs)
	if err != nil {
		return nil, fmt.Errorf("score rfm: %w", err)
	}
	out := make([]Scores, len(stats))
	for j, s := range scored {
		out[at[j]] = Scores{Recency: int32(s.R), Frequency: int32(s.F), Monetary: int32(s.M)}
	}
	return out, nil
}
