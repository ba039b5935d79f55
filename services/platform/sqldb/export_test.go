package sqldb

// Runs reports how many runs finished and the last one's error.
func (a *Analyzer) Runs() (int, error) { return a.runs() }

// SetSQLiteBusyTimeout sets the busy timeout of SQLite databases opened
// until the test ends.
func SetSQLiteBusyTimeout(t interface{ Cleanup(func()) }, ms int) {
	old := sqliteBusyTimeoutMS
	sqliteBusyTimeoutMS = ms
	t.Cleanup(func() { sqliteBusyTimeoutMS = old })
}
