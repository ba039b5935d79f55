package initiative

import (
	"fmt"
	"strings"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
)

// Chart returns the summary chart: the baseline and the rate the plan
// expects, then the control and variant rates measured.
func Chart(in *metricsv1.PdcaInitiative) []*metricsv1.ChartPoint {
	pts := []*metricsv1.ChartPoint{
		{Label: "baseline", Value: in.GetBaseline()},
		{Label: "expected", Value: in.GetBaseline() + in.GetPlan().GetExpectedAbsoluteEffect()},
	}
	if c := in.GetCheck(); c != nil && c.GetVariant() != "" {
		pts = append(pts,
			&metricsv1.ChartPoint{Label: "measured " + c.GetControl(), Value: c.GetControlRate()},
			&metricsv1.ChartPoint{Label: "measured " + c.GetVariant(), Value: c.GetVariantRate()})
	}
	return pts
}

// Markdown renders the one-page summary for pasting into a weekly report.
func Markdown(in *metricsv1.PdcaInitiative) string {
	var b strings.Builder
	esc := func(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s) }
	fmt.Fprintf(&b, "# %s\n\n", esc(in.GetTitle()))
	fmt.Fprintf(&b, "**State:** %s · **KPI:** %s", in.GetState(), in.GetKpi())
	if in.GetSegmentId() != "" {
		fmt.Fprintf(&b, " (segment %s)", in.GetSegmentId())
	}
	b.WriteString("\n\n## Plan\n\n")
	if h := in.GetHypothesis(); h != "" {
		fmt.Fprintf(&b, "> %s\n\n", strings.ReplaceAll(h, "\n", "\n> "))
	}
	p := in.GetPlan()
	b.WriteString("| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| Baseline (last %d days) | %s |\n", p.GetBaselineWindowDays(), pct(in.GetBaseline()))
	fmt.Fprintf(&b, "| Expected effect | %+.2f points |\n", 100*p.GetExpectedAbsoluteEffect())
	fmt.Fprintf(&b, "| Sample size per arm (α %.2f, power %.1f) | %d |\n", p.GetAlpha(), p.GetPower(), p.GetSampleSizePerArm())
	if p != nil && p.ExpectedDurationDays != nil {
		fmt.Fprintf(&b, "| Expected duration | %.1f days at %.1f customers/day |\n", p.GetExpectedDurationDays(), p.GetEntryRatePerDay())
	} else {
		b.WriteString("| Expected duration | unknown: nobody entered in the baseline window |\n")
	}
	fmt.Fprintf(&b, "| Expected incremental revenue | %.0f |\n", p.GetExpectedIncrementalRevenue())

	b.WriteString("\n## Do\n\n")
	if len(in.GetJourneyIds()) == 0 {
		b.WriteString("Not started.\n")
	} else {
		fmt.Fprintf(&b, "Journeys: %s", strings.Join(in.GetJourneyIds(), ", "))
		if in.GetStartTime() != nil {
			fmt.Fprintf(&b, " · from %s", in.GetStartTime().AsTime().Format("2006-01-02"))
		}
		if in.GetEndTime() != nil {
			fmt.Fprintf(&b, " to %s", in.GetEndTime().AsTime().Format("2006-01-02"))
		}
		b.WriteString("\n")
	}

	b.WriteString("\n## Check: expected vs measured\n\n")
	if c := in.GetCheck(); c == nil || c.GetVariant() == "" {
		b.WriteString("Not measured yet.")
		if c.GetNote() != "" {
			fmt.Fprintf(&b, " %s", c.GetNote())
		}
		b.WriteString("\n")
	} else {
		b.WriteString("| | expected | measured |\n|---|---|---|\n")
		fmt.Fprintf(&b, "| Effect (%s vs %s) | %+.2f points | %+.2f points (95%% CI %+.2f to %+.2f, p = %.3g) |\n",
			c.GetVariant(), c.GetControl(), 100*p.GetExpectedAbsoluteEffect(), 100*c.GetAbsoluteEffect(), 100*c.GetCiLow(), 100*c.GetCiHigh(), c.GetPValue())
		fmt.Fprintf(&b, "| Conversion rate | %s | %s (control %s) |\n", pct(in.GetBaseline()+p.GetExpectedAbsoluteEffect()), pct(c.GetVariantRate()), pct(c.GetControlRate()))
		reached := "no"
		if c.GetExpectedReached() {
			reached = "yes"
		}
		fmt.Fprintf(&b, "\nExpected effect reached: **%s** · P(beats control) = %.1f%% · %d exposed\n", reached, 100*c.GetProbabilityToBeatControl(), c.GetExposed())
		if c.GetBestGroup() != "" {
			fmt.Fprintf(&b, "\nWorked best for %s, worst for %s (sub-group results are exploratory: many groups, some differ by chance).\n", c.GetBestGroup(), c.GetWorstGroup())
		}
		if c.GetNote() != "" {
			fmt.Fprintf(&b, "\n%s\n", c.GetNote())
		}
	}

	b.WriteString("\n## Act\n\n")
	if r := in.GetReview(); r == nil && in.GetDecision() == metricsv1.Decision_DECISION_UNSPECIFIED {
		b.WriteString("No review yet.\n")
	} else {
		for _, sec := range []struct {
			name  string
			items []string
		}{{"Keep", r.GetKeep()}, {"Problem", r.GetProblem()}, {"Try", r.GetTry()}} {
			fmt.Fprintf(&b, "**%s**\n", sec.name)
			if len(sec.items) == 0 {
				b.WriteString("- (none)\n")
			}
			for _, it := range sec.items {
				fmt.Fprintf(&b, "- %s\n", esc(it))
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "**Decision:** %s", in.GetDecision())
		if in.GetNextInitiativeId() != "" {
			fmt.Fprintf(&b, " → next: %s", in.GetNextInitiativeId())
		}
		b.WriteString("\n")
	}
	if len(in.GetHistory()) > 0 {
		b.WriteString("\n## History\n\n")
		for _, h := range in.GetHistory() {
			fmt.Fprintf(&b, "- %s %s → %s by %s\n", h.GetTime().AsTime().Format("2006-01-02 15:04"), h.GetFrom(), h.GetTo(), esc(h.GetActor()))
		}
	}
	return b.String()
}

func pct(x float64) string { return fmt.Sprintf("%.2f%%", 100*x) }
