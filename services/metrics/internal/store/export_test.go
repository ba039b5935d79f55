package store

// SetAnalyzeMinRows sets how many customer rows ApplyEvents writes before
// the store's planner statistics are refreshed (PostgreSQL only).
func SetAnalyzeMinRows(s *Store, n int64) {
	if s.analyzer != nil {
		s.analyzer.MinRows = n
	}
}
