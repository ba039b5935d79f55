package sqldb

// Runs reports how many runs finished and the last one's error.
func (a *Analyzer) Runs() (int, error) { return a.runs() }
