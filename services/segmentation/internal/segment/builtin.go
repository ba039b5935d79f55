package segment

import (
	"strings"
	"time"
)

// rfmCell is one named RFM segment: ranges of recency and frequency
// scores. The eleven cells partition the 5×5 R×F grid, so every purchasing
// customer is in exactly one.
type rfmCell struct {
	id, ja, en    string
	rMin, rMax    int32
	fMin, fMax    int32
	explanationEn string
}

// rfmCells is the common eleven-segment R×F map (the one the R rfm
// package and most RFM guides draw), with Lost split off the low corner of
// Hibernating.
var rfmCells = []rfmCell{
	{"rfm_champions", "優良顧客", "Champions", 5, 5, 4, 5, "bought recently and most often"},
	{"rfm_loyal", "ロイヤル顧客", "Loyal", 3, 4, 4, 5, "buy often, fairly recently"},
	{"rfm_potential_loyalist", "優良化見込み顧客", "Potential loyalist", 4, 5, 2, 3, "recent, a few purchases"},
	{"rfm_new", "新規顧客", "New", 5, 5, 1, 1, "bought very recently, once"},
	{"rfm_promising", "有望顧客", "Promising", 4, 4, 1, 1, "bought recently, once"},
	{"rfm_need_attention", "要注意顧客", "Need attention", 3, 3, 3, 3, "average recency and frequency"},
	{"rfm_about_to_sleep", "休眠予備軍", "About to sleep", 3, 3, 1, 2, "average recency, few purchases"},
	{"rfm_at_risk", "離反危険顧客", "At risk", 1, 2, 3, 4, "bought often, not lately"},
	{"rfm_cant_lose", "離反させたくない顧客", "Can't lose", 1, 2, 5, 5, "bought most often, not lately"},
	{"rfm_hibernating", "休眠顧客", "Hibernating", 2, 2, 1, 2, "few purchases, long ago"},
	{"rfm_lost", "離反顧客", "Lost", 1, 1, 1, 2, "few purchases, longest ago"},
}

// stageSegmentIDPrefix starts the ids of the lifecycle stage segments
// ("lifecycle_dormant").
const stageSegmentIDPrefix = "lifecycle_"

var stageNames = map[Stage][2]string{
	StageProspect: {"見込み客", "Prospect"},
	StageNew:      {"新規顧客（F1）", "New"},
	StageF2:       {"リピーター（F2）", "F2"},
	StageLoyal:    {"ロイヤル顧客", "Loyal"},
	StageDormant:  {"休眠顧客", "Dormant"},
	StageChurned:  {"離脱顧客", "Churned"},
	StageReturned: {"復帰顧客", "Returned"},
}

var stageDescriptions = map[Stage]string{
	StageProspect: "No purchase yet.",
	StageNew:      "One purchase.",
	StageF2:       "Two purchases, fewer than loyal_min_orders.",
	StageLoyal:    "At least loyal_min_orders purchases.",
	StageDormant:  "No purchase for dormant_days days.",
	StageChurned:  "No purchase for churned_days days.",
	StageReturned: "Last purchase came at least dormant_days after the one before.",
}

// builtinEpoch is the creation time of every built-in segment: fixed, so
// every workspace shows the same definition.
var builtinEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// BuiltinSegments returns the read-only segments of every workspace: the
// named RFM segments and one per lifecycle stage.
func BuiltinSegments(workspaceID string) []Segment {
	out := make([]Segment, 0, len(rfmCells)+len(Stages))
	for _, c := range rfmCells {
		out = append(out, Segment{
			WorkspaceID: workspaceID, ID: c.id, BuiltIn: true, CreateTime: builtinEpoch,
			DisplayName: c.ja + " (" + c.en + ")",
			Description: "Named RFM segment: " + c.explanationEn + " (recency score " + scoreRange(c.rMin, c.rMax) +
				", frequency score " + scoreRange(c.fMin, c.fMax) + ").",
			Rule: Rule{RFM: &RFMCondition{Recency: &ScoreRange{Min: c.rMin, Max: c.rMax}, Frequency: &ScoreRange{Min: c.fMin, Max: c.fMax}}},
		})
	}
	for _, st := range Stages {
		out = append(out, Segment{
			WorkspaceID: workspaceID, ID: StageSegmentID(st), BuiltIn: true, CreateTime: builtinEpoch,
			DisplayName: stageNames[st][0] + " (" + stageNames[st][1] + ")",
			Description: "Lifecycle stage: " + stageDescriptions[st],
			Rule:        Rule{Lifecycle: &LifecycleCondition{Stages: []Stage{st}}},
		})
	}
	return out
}

// StageSegmentID returns the id of the built-in segment of a stage.
func StageSegmentID(s Stage) string { return stageSegmentIDPrefix + string(s) }

// IsBuiltinID reports whether id names a built-in segment.
func IsBuiltinID(id string) bool {
	return strings.HasPrefix(id, "rfm_") || strings.HasPrefix(id, stageSegmentIDPrefix)
}

func scoreRange(lo, hi int32) string {
	if lo == hi {
		return string(rune('0' + lo))
	}
	return string(rune('0'+lo)) + "–" + string(rune('0'+hi))
}
